"""A server started with a read replica configured serves the pages that read from it, and
the writes that run in transactions (which must name the primary connection) still work."""

from __future__ import annotations

import uuid

import httpx
import pytest

from server.services.demo import DEMO_PASSWORD
from tests.conftest import CSRF_RE, XBL_CHAIR, enrolment_form
from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e


def test_server_with_read_replica(live_server: LiveServer) -> None:
    live_server.stop()
    # The same database stands in for the replica: what is checked is the wiring.
    live_server.start(LIANXIN_DB_READ_URL=live_server.db_url)
    try:
        with httpx.Client(base_url=live_server.url) as c:
            page = c.get("/officer/login")
            token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
            c.post("/officer/login", data={"csrf_token": token, "phone": XBL_CHAIR,
                                           "password": DEMO_PASSWORD})
            for path in ("/officer/figures", "/officer/digest", "/officer/members"):
                assert c.get(path).status_code == 200, path
        join = live_server.cli("invite", "xibailiang").strip().removeprefix(live_server.url)
        with httpx.Client(base_url=live_server.url) as worker:
            page = worker.get(join)
            form = enrolment_form(csrf_token=CSRF_RE.search(page.text).group(1))  # type: ignore[union-attr]
            assert worker.post(join, data=form).status_code == 303
            page = worker.get("/requests/new")
            token = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
            filed = worker.post("/requests/new", data={
                "csrf_token": token, "client_id": str(uuid.uuid4()), "category": "living",
                "description": "副本配置下也能提交"})
            assert filed.status_code == 303, filed.text[:300]
            batch = worker.post("/requests/sync", headers={"X-CSRF-Token": token}, json={
                "items": [{"id": "a", "fields": [["client_id", str(uuid.uuid4())],
                                                 ["category", "living"],
                                                 ["description", "副本配置下的批量提交"]]}]})
            assert batch.json()["results"][0]["status"] == 201
    finally:
        live_server.stop()
        live_server.start()
