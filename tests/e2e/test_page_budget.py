"""Bytes a phone pays for, counted on the wire by a proxy in front of the server, with
compression on: first visit to a join link, a repeat visit, and a visit with no signal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.proxy import Proxy

pytestmark = pytest.mark.e2e
FIRST_VISIT_BUDGET = 60 * 1024
REPEAT_VISIT_BUDGET = 8 * 1024
RESULTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "page-budget.txt"


async def settle(proxy: Proxy) -> None:
    """Until nothing has crossed the proxy for a second (background fetches included)."""
    last = -1
    while proxy.bytes_to_client != last:
        last = proxy.bytes_to_client
        await asyncio.sleep(1.0)


async def test_join_page_budget(live_server: LiveServer, browser: Browser) -> None:
    proxy = Proxy(upstream_port=live_server.port)
    await proxy.start()
    try:
        join_path = live_server.cli("invite", "xibailiang").strip().removeprefix(live_server.url)
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        await page.goto(proxy.url + join_path)
        await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
        await settle(proxy)
        first, first_requests = proxy.bytes_to_client, list(proxy.requests)

        proxy.reset_count()
        await page.goto(proxy.url + join_path)
        await expect(page.locator("#join")).to_be_visible()
        await settle(proxy)
        repeat, repeat_requests = proxy.bytes_to_client, list(proxy.requests)

        live_server.stop()
        try:
            proxy.reset_count()
            await page.goto(proxy.url + join_path)
            await expect(page.locator("#join")).to_be_visible()
            offline = proxy.bytes_to_client
        finally:
            live_server.start()
        await context.close()
    finally:
        await proxy.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        f"first visit: {first} bytes ({len(first_requests)} requests)\n"
        + "".join(f"  {r}\n" for r in first_requests)
        + f"repeat visit: {repeat} bytes ({len(repeat_requests)} requests)\n"
        + "".join(f"  {r}\n" for r in repeat_requests)
        + f"offline visit: {offline} bytes\n", encoding="utf-8")
    print("\n" + RESULTS.read_text(encoding="utf-8"))
    assert first <= FIRST_VISIT_BUDGET, f"first visit {first} B > {FIRST_VISIT_BUDGET} B"
    assert repeat <= REPEAT_VISIT_BUDGET, f"repeat visit {repeat} B > {REPEAT_VISIT_BUDGET} B"
    assert offline == 0
