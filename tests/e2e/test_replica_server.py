"""A server started with a read replica (a second database, made different on purpose)
serves the officer pages that read from it, and a worker's own pages and the writes that run
in transactions (which must name the primary connection) still go to the primary."""

from __future__ import annotations

import uuid

import httpx
import pytest

from server.services.demo import DEMO_PASSWORD
from tests.conftest import CSRF_RE, XBL_CHAIR, clone_database, enrolment_form
from tests.e2e.conftest import LiveServer, query_db

pytestmark = [pytest.mark.e2e, pytest.mark.both_databases]


def csrf(html: str) -> str:
    return CSRF_RE.search(html).group(1)  # type: ignore[union-attr]


async def enrol(server: LiveServer, name: str) -> httpx.AsyncClient:
    join = server.cli("invite", "xibailiang").strip().removeprefix(server.url)
    worker = httpx.AsyncClient(base_url=server.url)
    page = await worker.get(join)
    joined = await worker.post(join, data=enrolment_form(csrf_token=csrf(page.text), name=name))
    assert joined.status_code == 303
    return worker


async def test_server_with_read_replica(live_server: LiveServer) -> None:
    await (await enrol(live_server, "两库都有的工友")).aclose()
    live_server.stop()
    replica_url, drop = await clone_database(live_server.db_url, live_server.workdir, "replica")
    await query_db(replica_url, "UPDATE member SET name = $1 WHERE name = $2",
                   "副本里改过的名字", "两库都有的工友")
    live_server.start(LIANXIN_DB_READ_URL=replica_url)
    try:
        worker = await enrol(live_server, "只在主库的工友")
        try:
            # The worker's own page reads the primary: they find themselves at once.
            assert "只在主库的工友" in (await worker.get("/me")).text
            page = await worker.get("/requests/new")
            filed = await worker.post("/requests/new", data={
                "csrf_token": csrf(page.text), "client_id": str(uuid.uuid4()),
                "category": "living", "description": "副本配置下也能提交"})
            assert filed.status_code == 303, filed.text[:300]
            fields = [["client_id", str(uuid.uuid4())], ["category", "living"],
                      ["description", "副本配置下的批量提交"]]
            batch = await worker.post("/requests/sync", headers={"X-CSRF-Token": csrf(page.text)},
                                      json={"items": [{"id": "a", "fields": fields}]})
            assert batch.json()["results"][0]["status"] == 201
        finally:
            await worker.aclose()
        async with httpx.AsyncClient(base_url=live_server.url) as c:
            page = await c.get("/officer/login")
            await c.post("/officer/login", data={
                "csrf_token": csrf(page.text), "phone": XBL_CHAIR, "password": DEMO_PASSWORD})
            members = await c.get("/officer/members")
            assert members.status_code == 200
            assert "副本里改过的名字" in members.text and "两库都有的工友" not in members.text
            assert "只在主库的工友" not in members.text
            for path in ("/officer/figures", "/officer/digest"):
                response = await c.get(path)
                assert response.status_code == 200, path
                assert "副本配置下" not in response.text
        for description in ("副本配置下也能提交", "副本配置下的批量提交"):
            sql = "SELECT COUNT(*) FROM service_request WHERE description = $1"
            assert await live_server.count(sql, description) == 1
            assert (await query_db(replica_url, sql, description))[0][0] == 0
    finally:
        live_server.stop()
        await drop()
        live_server.start()
