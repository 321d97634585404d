"""Officers offline (issue 11) in a real Chromium, with the server really stopped: the cadre's
queue and request open with no signal, a reply and a resolve wait in the outbox, another
officer resolves meanwhile, and after the restart the reply is applied once while the resolve
waits as 需要处理 with both states. Signing out takes the queue and the cached pages along."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.conftest import XBL_CHAIR, csrf_of
from tests.e2e.conftest import PHONE, LiveServer, officer_act, officer_login
from tests.e2e.test_offline import file_request, join

pytestmark = pytest.mark.e2e


@pytest.fixture
async def server(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The live server, guaranteed to be running again after a test that stops it."""
    yield live_server
    if live_server.process is None or live_server.process.poll() is not None:
        live_server.start()


async def filed_request(browser: Browser, server: LiveServer, text: str) -> int:
    context = await browser.new_context(**PHONE, service_workers="block")
    worker = await join(context, server.url, server, sw=False)
    await file_request(worker, text)
    await expect(worker.locator("h1")).to_contain_text("生活住宿")
    request_id = int(worker.url.rsplit("/", 1)[1])
    await context.close()
    return request_id


async def liaison_of(server: LiveServer, request_id: int) -> str:
    rows = await server.query("SELECT o.phone FROM service_request r JOIN officer o "
                              "ON o.id = r.assignee_id WHERE r.id = $1", request_id)
    return str(rows[0][0])


async def cadre_with_cached_pages(browser: Browser, server: LiveServer,
                                  request_id: int) -> tuple[BrowserContext, Page]:
    """The request's cadre signed in, controlled by the service worker, having opened the
    queue and the request (so both are kept for offline reading)."""
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await officer_login(page, server.url, await liaison_of(server, request_id))
    await page.goto(server.url + "/officer/requests")
    await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
    await page.reload()
    assert await page.evaluate("!!navigator.serviceWorker.controller")
    await page.click(f"a[href='/officer/requests/{request_id}']")
    await expect(page.locator("#action-form")).to_be_visible()
    await page.goto(server.url + "/officer/requests")
    return context, page


async def officer_items(page: Page) -> list[Any]:
    return await page.evaluate(  # type: ignore[no-any-return]
        "LianxinOutbox.all().then(a => a.map(i => [i.status, i.url, i.lastError]))")


async def wait_settled(page: Page, within: float = 40) -> None:
    """Until nothing in the outbox is still pending (sent, or needing attention)."""
    deadline = asyncio.get_running_loop().time() + within
    while any(s == "pending" for s, _, _ in await officer_items(page)):
        assert asyncio.get_running_loop().time() < deadline, await officer_items(page)
        await asyncio.sleep(0.5)


async def chair_resolves(server: LiveServer, request_id: int, note: str) -> None:
    """Another officer, on another phone with signal, resolves the request over HTTP."""
    from server.services.demo import DEMO_PASSWORD

    async with httpx.AsyncClient(base_url=server.url) as c:
        page = await c.get("/officer/login")
        r = await c.post("/officer/login", data={"csrf_token": csrf_of(page.text),
                                                 "phone": XBL_CHAIR, "password": DEMO_PASSWORD})
        assert r.status_code == 303
        panel = await c.get(f"/officer/requests/{request_id}")
        done = await c.post(f"/officer/requests/{request_id}/act", data={
            "csrf_token": csrf_of(panel.text), "action": "resolve", "note": note})
        assert done.status_code == 303, done.text[:300]


async def events_with(server: LiveServer, request_id: int, kind: str, note: str) -> int:
    return await server.count("SELECT COUNT(*) FROM request_event WHERE request_id = $1 "
                              "AND kind = $2 AND note = $3", request_id, kind, note)


async def test_offline_reply_applies_once_and_conflicting_resolve_needs_attention(
        server: LiveServer, browser: Browser, shots: Path) -> None:
    tag = uuid.uuid4().hex[:6]
    request_id = await filed_request(browser, server, f"宿舍没热水 {tag}")
    context, cadre = await cadre_with_cached_pages(browser, server, request_id)
    await cadre.screenshot(path=shots / "queue-360-zh.png", full_page=True)

    server.stop()
    # The queue and the request open with no server at all.
    await cadre.reload()
    await expect(cadre.locator("#main")).to_contain_text(f"#{request_id}")
    await cadre.click(f"a[href='/officer/requests/{request_id}']")
    await expect(cadre.locator("#request-panel")).to_contain_text(f"宿舍没热水 {tag}")
    await cadre.screenshot(path=shots / "panel-offline-360-zh.png", full_page=True)
    reply, resolve = f"今晚去锅炉房看 {tag}", f"热水修好了 {tag}"
    await officer_act(cadre, "reply", reply)
    await expect(cadre.locator(".saved-note")).to_contain_text("已保存，有网络时自动发送")
    await officer_act(cadre, "resolve", resolve)
    await expect(cadre.locator("#outbox-status")).to_contain_text("2 条待发送")

    # Still without signal on the cadre's phone, the server comes back and the chair
    # resolves the request from another phone.
    await context.set_offline(True)
    server.start()
    await chair_resolves(server, request_id, f"主席：已派人修好 {tag}")
    await context.set_offline(False)  # the "online" event sends the queue
    await wait_settled(cadre)

    # The reply arrived, once; the resolve was not applied over the chair's.
    assert await events_with(server, request_id, "reply", reply) == 1
    assert await events_with(server, request_id, "resolved", resolve) == 0
    assert await server.count("SELECT COUNT(*) FROM request_event WHERE request_id = $1 "
                              "AND kind = 'resolved'", request_id) == 1
    await cadre.goto(server.url + "/outbox")
    item = cadre.locator(".outbox-item.attention")
    await expect(item).to_have_count(1)
    for text in ("需要处理", "你排队要做的", "办结", resolve, "诉求现在", "已办结",
                 f"主席：已派人修好 {tag}"):
        await expect(item).to_contain_text(text)
    await cadre.screenshot(path=shots / "needs-attention-360-zh.png", full_page=True)
    await cadre.goto(server.url + "/lang?to=en&next=/outbox")
    await expect(item).to_contain_text("Request now")
    await cadre.screenshot(path=shots / "needs-attention-360-en.png", full_page=True)
    await cadre.goto(server.url + f"/officer/requests/{request_id}")
    await cadre.screenshot(path=shots / "panel-360-en.png", full_page=True)
    await cadre.goto(server.url + "/lang?to=zh_Hans&next=/outbox")
    # Discarded deliberately, after a confirmation; the reply is still there once.
    cadre.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await item.get_by_role("button", name="删除").click()
    await expect(cadre.locator(".outbox-item")).to_have_count(0)
    assert await events_with(server, request_id, "reply", reply) == 1
    await context.close()


async def test_signing_out_asks_and_takes_the_queue_and_pages_along(
        server: LiveServer, browser: Browser, shots: Path) -> None:
    request_id = await filed_request(browser, server, f"食堂太咸 {uuid.uuid4().hex[:6]}")
    context, cadre = await cadre_with_cached_pages(browser, server, request_id)
    await cadre.click(f"a[href='/officer/requests/{request_id}']")
    await cadre.screenshot(path=shots / "panel-360-zh.png", full_page=True)
    await context.set_offline(True)
    await officer_act(cadre, "note", "下午再去看看")
    await expect(cadre.locator(".saved-note")).to_contain_text("已保存")
    # Signal back, but this action cannot get through yet (a dead spot on the way).
    await context.route("**/officer/requests/*/act", lambda route: route.abort())
    await context.set_offline(False)
    # Signing out before it went: asked first, and told what happens to it.
    messages: list[str] = []

    accepting: list[Any] = []

    def answer(dialog: Any) -> None:
        messages.append(dialog.message)
        accepting.append(asyncio.ensure_future(dialog.accept()))

    cadre.once("dialog", answer)
    await cadre.locator("form[action='/officer/logout'] button").click()
    await cadre.wait_for_url("**/officer/login*")
    assert messages and "还有 1 条操作没有发出去" in messages[0]
    assert await officer_items(cadre) == []
    assert await cadre.evaluate(
        "caches.keys().then(ks => ks.filter(k => k.startsWith('lx-officer-')).length)") == 0
    await context.unroute("**/officer/requests/*/act")
    assert await events_with(server, request_id, "note", "下午再去看看") == 0
    # The next officer on this phone, with no signal, does not get the cadre's pages.
    await officer_login(cadre, server.url, XBL_CHAIR)
    server.stop()
    await cadre.goto(server.url + f"/officer/requests/{request_id}")
    await expect(cadre.locator("#main")).to_contain_text("现在没有网络")
    server.start()
    await context.close()
