"""The offline contract in a real Chromium, with the server really stopped and restarted:
nothing filed offline is lost, nothing arrives twice, whatever fails in between."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import XBL_CADRE, fresh_phone
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, officer_login
from tests.e2e.proxy import Fault, Proxy

pytestmark = [pytest.mark.e2e, pytest.mark.both_databases]


@pytest.fixture
async def server(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The live server, guaranteed to be running again after a test that stops it."""
    yield live_server
    if live_server.process is None or live_server.process.poll() is not None:
        live_server.start()


@pytest.fixture
async def proxy(live_server: LiveServer) -> AsyncIterator[Proxy]:
    p = Proxy(upstream_port=live_server.port)
    await p.start()
    yield p
    await p.stop()


async def join(context: BrowserContext, base: str, server: LiveServer,
               sw: bool = True) -> Page:
    """A worker joins 西柏梁 (approved at once) and opens the request form, controlled by the
    service worker where there is one."""
    join_path = server.cli("invite", "xibailiang").strip().removeprefix(server.url)
    page = await context.new_page()
    await page.goto(base + join_path)
    await page.fill("#f-name", "离线工友")
    await page.fill("#f-phone", fresh_phone())
    await page.select_option("#f-trade", "木工")
    await page.check("input[name=consent]")
    await page.click("button[type=submit]")
    await expect(page.locator("#status")).to_contain_text("已入会")
    await page.goto(base + "/requests/new")
    if sw:
        await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
        await page.reload()
        assert await page.evaluate("!!navigator.serviceWorker.controller")
    return page


async def file_request(page: Page, text: str, photo: Path | None = None) -> None:
    await page.locator("label.choice", has_text="生活住宿").click()
    await page.fill("#f-description", text)
    if photo is not None:
        await page.set_input_files("#f-photo", str(photo))
    await page.click("#new-request button[type=submit]")


async def outbox(page: Page) -> dict[str, Any]:
    return await page.evaluate("LianxinOutbox.summary()")  # type: ignore[no-any-return]


async def wait_empty(page: Page, within: float = 30) -> None:
    """Until the outbox is empty (polled: wait_for_function does not await promises)."""
    deadline = asyncio.get_running_loop().time() + within
    while (await outbox(page))["total"]:
        assert asyncio.get_running_loop().time() < deadline, await page.evaluate(
            "LianxinOutbox.all().then(a => a.map(i => [i.status, i.attempts, i.lastError]))")
        await asyncio.sleep(0.5)


async def requests_with(server: LiveServer, text: str) -> int:
    return await server.count("SELECT COUNT(*) FROM service_request WHERE description = $1", text)


async def test_1_filed_with_server_down_arrives_once(server: LiveServer, browser: Browser,
                                                     shots: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    text = f"宿舍停水了 {uuid.uuid4().hex[:6]}"
    server.stop()
    await file_request(page, text)
    await expect(page.locator(".saved-note")).to_contain_text("已保存，有网络时自动发送")
    await expect(page.locator("#outbox-status")).to_contain_text("1 条待发送")
    await page.screenshot(path=shots / "saved-offline.png", full_page=True)
    server.start()
    # No reload, no click: the page's own timer sends it once the server is back.
    await wait_empty(page, within=40)
    assert await requests_with(server, text) == 1
    # The indicator stays: nothing waits now, and it says when it last synced.
    await expect(page.locator("#outbox-status [data-pending]")).to_have_text("0 条待发送")
    await expect(page.locator("#outbox-status [data-last-sync]")).to_contain_text("上次同步")
    await context.close()


async def test_2_response_lost_after_commit(server: LiveServer, browser: Browser,
                                            proxy: Proxy) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, proxy.url, server)
    text = f"热水器坏了 {uuid.uuid4().hex[:6]}"
    proxy.faults.append(Fault("POST", "/requests", "drop", 1))
    await file_request(page, text)
    await expect(page.locator(".saved-note")).to_be_visible()
    assert await requests_with(server, text) == 1, proxy.requests  # the server did commit
    assert (await outbox(page))["pending"] == 1  # but the phone never heard
    await page.evaluate("Lianxin.flush(true)")
    await wait_empty(page)
    assert await requests_with(server, text) == 1
    await context.close()


async def test_3_survives_browser_restart(server: LiveServer, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    texts = [f"工地食堂太贵 {uuid.uuid4().hex[:6]}", f"宿舍太挤 {uuid.uuid4().hex[:6]}"]
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, **PHONE)
        page = await join(context, server.url, server)
        server.stop()
        for text in texts:
            await file_request(page, text)
            await expect(page.locator(".saved-note")).to_be_visible()
        assert (await outbox(page))["pending"] == 2
        await context.close()
        server.start()
        context = await pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, **PHONE)
        page = await context.new_page()
        await page.goto(server.url + "/me")  # any page of the app flushes on load
        await wait_empty(page)
        await context.close()
    for text in texts:
        assert await requests_with(server, text) == 1


async def test_4_two_tabs_flush_at_once(server: LiveServer, browser: Browser) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    texts = [f"两个标签页 {i} {uuid.uuid4().hex[:6]}" for i in range(3)]
    server.stop()
    for text in texts:
        await file_request(page, text)
        await expect(page.locator(".saved-note")).to_be_visible()
    other = await context.new_page()
    await other.goto("about:blank")
    server.start()
    await page.goto(server.url + "/outbox")
    await other.goto(server.url + "/outbox")
    # Both tabs flush at the same moment, several times over.
    await asyncio.gather(*(p.evaluate("Lianxin.flush(true)") for p in (page, other, page, other)))
    await wait_empty(page)
    for text in texts:
        assert await requests_with(server, text) == 1
    await context.close()


async def test_5_refused_item_needs_attention_then_resent(server: LiveServer, browser: Browser,
                                                          shots: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await officer_login(page, server.url, XBL_CADRE)
    await page.goto(server.url + "/officer/enrol")
    await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
    await page.reload()
    good_phone, taken_phone = fresh_phone(), fresh_phone()
    # Someone with this phone is already a member: the offline form will conflict at sync.
    await page.fill("#f-name", "已登记工友")
    await page.fill("#f-phone", taken_phone)
    await page.select_option("#f-trade", "电工")
    await page.check("input[name=consent]")
    await page.click("#join button[type=submit]")
    await expect(page.locator(".saved-note")).to_contain_text("已发送")
    server.stop()
    await page.reload()  # the enrolment form opens with no server
    for name, phone in (("打错号码", "1380013800"), ("重复登记", taken_phone)):
        await page.fill("#f-name", name)
        await page.fill("#f-phone", phone)
        await page.select_option("#f-trade", "电工")
        await page.check("input[name=consent]")
        await page.click("#join button[type=submit]")
        await expect(page.locator(".saved-note")).to_contain_text("已保存")
    server.start()
    await page.goto(server.url + "/outbox")
    await page.evaluate("Lianxin.flush(true)")
    items = page.locator(".outbox-item.attention")
    await expect(items).to_have_count(2)
    await expect(page.locator("#outbox-list")).to_contain_text("手机号应为 11 位数字")
    await expect(page.locator("#outbox-list")).to_contain_text("已经在本项目登记过了")
    await page.screenshot(path=shots / "needs-attention.png", full_page=True)
    wrong = page.locator(".outbox-item", has_text="打错号码")
    await wrong.get_by_role("button", name="修改").click()
    await wrong.locator("input[name=phone]").fill(good_phone)
    await wrong.get_by_role("button", name="修改后重新发送").click()
    await expect(page.locator(".outbox-item", has_text="打错号码")).to_have_count(0)
    assert await server.count("SELECT COUNT(*) FROM member WHERE phone = $1", good_phone) == 1
    # The conflict is discarded explicitly, after a confirmation.
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.locator(".outbox-item", has_text="重复登记").get_by_role("button",
                                                                     name="删除").click()
    await expect(page.locator(".outbox-item")).to_have_count(0)
    assert await server.count("SELECT COUNT(*) FROM member WHERE phone = $1", taken_phone) == 1
    await context.close()


async def test_6_server_errors_twice_then_recovers(server: LiveServer, browser: Browser,
                                                   proxy: Proxy) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, proxy.url, server)
    text = f"安全帽不够 {uuid.uuid4().hex[:6]}"
    proxy.faults.append(Fault("POST", "/requests", "500", 2))
    await file_request(page, text)
    await expect(page.locator(".saved-note")).to_be_visible()
    await page.evaluate("Lianxin.flush(true)")
    summary = await outbox(page)
    assert summary["pending"] == 1, "a 500 is retried, never dropped"
    assert await requests_with(server, text) == 0
    await page.evaluate("Lianxin.flush(true)")
    await wait_empty(page)
    assert await requests_with(server, text) == 1
    posts = [r for r in proxy.requests if r.startswith("POST /requests")]
    # The press itself, then two flushes, which carry queued requests in a batch.
    assert [p.split(" ")[1] for p in posts] == ["/requests/new"] + ["/requests/sync"] * 2
    await context.close()


async def test_11_batch_answer_lost_after_commit(server: LiveServer, browser: Browser,
                                                 proxy: Proxy) -> None:
    """Twelve queued requests go in one batch; the server commits it and the answer is lost.
    Sent again, the server answers each as already filed: twelve requests, none twice."""
    context = await browser.new_context(**PHONE)
    page = await join(context, proxy.url, server)
    tag = uuid.uuid4().hex[:6]
    proxy.faults.append(Fault("POST", "/requests/new", "500", 12))
    for i in range(12):
        await file_request(page, f"批次 {tag} {i:02d}")
        await expect(page.locator(".saved-note")).to_be_visible()
        # The form is reset once this one is saved: the next must not be chosen before.
        await expect(page.locator("#f-description")).to_have_value("")
    assert (await outbox(page))["pending"] == 12
    proxy.faults.append(Fault("POST", "/requests/sync", "drop", 1))
    await page.evaluate("Lianxin.flush(true)")
    pattern = f"批次 {tag} %"
    count = "SELECT COUNT(*) FROM service_request WHERE description LIKE $1"
    assert await server.count(count, pattern) == 12  # committed, though the phone never heard
    assert (await outbox(page))["pending"] == 12
    await page.evaluate("Lianxin.flush(true)")
    await wait_empty(page)
    assert await server.count(count, pattern) == 12
    assert await server.count(
        "SELECT COUNT(*) FROM request_event e JOIN service_request r ON r.id = e.request_id "
        "WHERE r.description LIKE $1", pattern) == 12
    batches = [r for r in proxy.requests if r.startswith("POST /requests/sync")]
    assert len(batches) == 2, "twelve items, one batch per flush"
    await context.close()


def small_photo(path: Path, seed: int) -> str:
    image = Image.new("RGB", (320, 240), (seed * 5 % 256, seed * 11 % 256, seed * 17 % 256))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=70)
    path.write_bytes(out.getvalue())
    return hashlib.sha256(out.getvalue()).hexdigest()


@pytest.mark.timeout(240)
async def test_7_fifty_items_with_photos(server: LiveServer, browser: Browser,
                                         tmp_path: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    tag = uuid.uuid4().hex[:6]
    hashes = {}
    server.stop()
    for i in range(50):
        photo = tmp_path / f"p{i}.jpg"
        text = f"批量 {tag} {i:02d}"
        hashes[text] = small_photo(photo, i)
        await file_request(page, text, photo if i % 2 == 0 else None)
        await expect(page.locator(".saved-note")).to_be_visible()
        await expect(page.locator("#f-description")).to_have_value("")
    assert (await outbox(page))["pending"] == 50
    server.start()
    await page.reload()
    await wait_empty(page, within=90)
    rows = await server.query(
        "SELECT r.description, p.upload_sha256 FROM service_request r "
        "LEFT JOIN request_photo p ON p.request_id = r.id WHERE r.description LIKE $1",
        f"批量 {tag} %")
    assert len(rows) == 50
    assert len({r[0] for r in rows}) == 50
    for description, sha in rows:
        index = int(str(description).rsplit(" ", 1)[1])
        if index % 2 == 0:
            assert sha == hashes[str(description)], "photo arrived changed"
        else:
            assert sha is None
    await context.close()


async def test_8_service_worker_update(server: LiveServer, browser: Browser,
                                       shots: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    old_caches = await page.evaluate("caches.keys()")
    text = f"更新前保存 {uuid.uuid4().hex[:6]}"
    server.stop()
    await file_request(page, text)
    await expect(page.locator(".saved-note")).to_be_visible()
    server.start(LIANXIN_RELEASE="v2-test")
    try:
        await page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        banner = page.locator("#update-banner")
        await expect(banner).to_be_visible(timeout=15000)
        await page.screenshot(path=shots / "update-banner.png", full_page=True)
        async with page.expect_navigation():
            await banner.get_by_role("button").click()
        for _ in range(60):
            new_caches = await page.evaluate("caches.keys()")
            if new_caches and not set(new_caches) & set(old_caches):
                break
            await asyncio.sleep(0.25)
        assert not set(new_caches) & set(old_caches)
        await wait_empty(page)
        assert await requests_with(server, text) == 1
    finally:
        server.stop()
        server.start()
        await context.close()


async def test_9_no_service_worker_still_queues(server: LiveServer, browser: Browser) -> None:
    context = await browser.new_context(**PHONE, service_workers="block")
    page = await join(context, server.url, server, sw=False)
    assert await page.evaluate("!navigator.serviceWorker || !navigator.serviceWorker.controller")
    text = f"没有 SW 也能发 {uuid.uuid4().hex[:6]}"
    server.stop()
    await file_request(page, text)
    await expect(page.locator(".saved-note")).to_be_visible()
    server.start()
    await page.reload()
    await wait_empty(page)
    assert await requests_with(server, text) == 1
    await context.close()


async def test_10_offline_reload_of_worker_pages(server: LiveServer, browser: Browser,
                                                 shots: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    await page.goto(server.url + "/me")
    # The service worker fetches the worker's own pages in the background (warm-up).
    for _ in range(60):
        if await page.evaluate(
                "caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => "
                "c.match('/me/card', {ignoreVary: true}))))).then(r => r.some(Boolean))"):
            break
        await asyncio.sleep(0.25)
    else:
        raise AssertionError("the service worker did not warm the card page")
    server.stop()
    for path, text in (("/requests/new", "反映问题"), ("/me/card", "工会会员卡"),
                       ("/requests", "我的诉求")):
        await page.goto(server.url + path)
        await expect(page.locator("#main")).to_contain_text(text)
        await page.screenshot(path=shots / f"offline{path.replace('/', '-')}.png",
                              full_page=True)
    await page.goto(server.url + "/offline-never-visited")
    await expect(page.locator("#main")).to_contain_text("现在没有网络")
    await context.close()
