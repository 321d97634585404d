"""A server started with a read replica configured serves the pages that read from it."""

from __future__ import annotations

import httpx
import pytest

from server.services.demo import DEMO_PASSWORD
from tests.conftest import CSRF_RE, XBL_CHAIR
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
    finally:
        live_server.stop()
        live_server.start()
