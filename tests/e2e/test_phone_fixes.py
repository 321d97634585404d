"""Defects found on the phone (issue 11), each checked where it showed: in Chromium at
360 px. Every page here also listens for Content-Security-Policy violations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.conftest import CXG_CADRE
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_act, officer_login

pytestmark = [pytest.mark.e2e, pytest.mark.browser_on_postgres]
CSP_PROBE = ("window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
             "window.__csp.push(e.violatedDirective + ' ' + (e.sample || e.blockedURI)));")


@pytest.fixture
async def server(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The live server, running again after a test that stops it."""
    yield live_server
    if live_server.process is None or live_server.process.poll() is not None:
        live_server.start()


async def phone(browser: Browser, **extra: object) -> tuple[BrowserContext, Page, list[str]]:
    """A 360 px phone whose CSP violations (console or event) are collected."""
    context = await browser.new_context(**{**PHONE, "viewport": {"width": 360, "height": 640},
                                           **extra})
    await context.add_init_script(CSP_PROBE)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text)
            if "Content Security Policy" in m.text else None)
    return context, page, console


async def violations(page: Page, console: list[str]) -> list[str]:
    return [*console, *await page.evaluate("window.__csp || []")]


async def join(page: Page, server: LiveServer, project: str = "xibailiang") -> None:
    await join_in_browser(page, server.cli("invite", project).strip(), "手机工友", trade="木工")
    await expect(page.locator("#status")).to_be_visible()


def photo_file(folder: Path, name: str, color: str) -> str:
    path = folder / name
    Image.new("RGB", (1200, 900), color).save(path, "JPEG", quality=85)
    return str(path)


async def liaison_of(server: LiveServer, request_id: str) -> str:
    """The phone of the cadre a request went to (the worker's liaison)."""
    rows = await server.query("SELECT o.phone FROM service_request r JOIN officer o "
                              "ON o.id = r.assignee_id WHERE r.id = $1", int(request_id))
    return str(rows[0][0])


async def in_view(page: Page, selector: str) -> bool:
    return bool(await page.evaluate(
        """(s) => { const r = document.querySelector(s).getBoundingClientRect();
                    return r.height > 0 && r.top >= 0 && r.bottom <= innerHeight; }""", selector))


async def test_photos_are_previewed_and_a_fourth_is_refused_aloud(
        server: LiveServer, browser: Browser, tmp_path: Path) -> None:
    context, page, console = await phone(browser)
    await join(page, server)
    await page.goto(server.url + "/requests/new")
    # A big camera button in place of the browser's bare "Choose Files".
    button = page.locator(".btn-photo")
    await expect(button).to_be_visible()
    assert (await button.bounding_box() or {}).get("height", 0) >= 60
    assert await page.locator("#f-photo").evaluate("e => e.getBoundingClientRect().width <= 1")
    files = [photo_file(tmp_path, f"p{i}.jpg", c)
             for i, c in enumerate(("red", "green", "blue", "gray"))]
    previews = page.locator(".photo-previews img")
    limit = page.locator(".photo-limit")

    await page.set_input_files("#f-photo", files)  # four at once: refused, said why
    await expect(limit).to_be_visible()
    await expect(limit).to_contain_text("最多 3 张")
    await expect(previews).to_have_count(0)

    await page.set_input_files("#f-photo", files[:2])
    await expect(previews).to_have_count(2)
    await expect(limit).to_be_hidden()
    await page.set_input_files("#f-photo", files[2:])  # two more would make four
    await expect(limit).to_contain_text("已选 2 张")
    await expect(previews).to_have_count(2)  # the two chosen before are still there
    await page.locator(".photo-previews button").first.click()
    await expect(previews).to_have_count(1)
    await page.set_input_files("#f-photo", files[2:])
    await expect(previews).to_have_count(3)

    await page.locator("label.choice", has_text="安全").click()
    await page.fill("#f-description", "三张照片都要收到")
    await page.click("#new-request button[type=submit]")
    await expect(page.locator(".photos img")).to_have_count(3)
    assert await violations(page, console) == []
    await context.close()


async def test_a_request_queued_offline_shows_in_my_requests(
        server: LiveServer, browser: Browser) -> None:
    context, page, console = await phone(browser)
    await join(page, server)
    await page.goto(server.url + "/requests")
    await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
    await page.goto(server.url + "/requests/new")
    await page.reload()
    assert await page.evaluate("!!navigator.serviceWorker.controller")

    server.stop()
    await page.locator("label.choice", has_text="生活住宿").click()
    await page.fill("#f-description", "没信号时提交的：宿舍漏雨")
    await page.click("#new-request button[type=submit]")
    await expect(page.locator(".saved-note")).to_be_visible()
    await page.goto(server.url + "/requests")  # from the service worker's cache
    queued = page.locator("#my-request-list .queued")
    await expect(queued).to_have_count(1)
    await expect(queued).to_contain_text("待发送")
    await expect(queued).to_contain_text("宿舍漏雨")
    await expect(queued).to_contain_text("没有网络")
    await page.goto(server.url + "/outbox")
    item = page.locator("#outbox-list li")
    await expect(item).to_contain_text("没有网络")
    await expect(item.locator("strong")).to_have_text("提交诉求 没信号时提交的：宿舍漏雨")
    assert "(network)" not in await item.inner_text()
    # The item keeps its kind and words apart, so a page in another language names it in
    # that language (the language can change while it waits).
    stored = await page.evaluate("LianxinOutbox.all().then(items => items.map(i => "
                                 "[i.labelName, i.labelSubject, i.labelText]))")
    assert stored == [["request", "", "没信号时提交的：宿舍漏雨"]]

    server.start()
    await page.goto(server.url + "/requests")
    # On a loaded machine one flush may still meet the server starting up, and the outbox then
    # waits out its back-off: send again every few seconds, as the page's own timer would.
    queued = page.locator("#my-request-list .queued")
    deadline = time.monotonic() + 40
    while await queued.count() and time.monotonic() < deadline:
        await page.evaluate("Lianxin.flush(true)")
        await page.wait_for_timeout(2_000)
    await expect(queued).to_have_count(0, timeout=5_000)
    await page.reload()
    await expect(page.locator("#my-request-list")).to_contain_text("宿舍漏雨")
    await expect(page.locator("#my-request-list")).to_contain_text("提交于")
    assert await violations(page, console) == []
    await page.goto(server.url + "/lang?to=en&next=/outbox")
    named = await page.evaluate(
        "[LianxinOutboxLabel({labelName: 'request', labelSubject: '', labelText: '宿舍漏雨',"
        " label: '诉求 宿舍漏雨'}), LianxinOutboxLabel({labelName: 'action-reply',"
        " labelSubject: '#12', labelText: '', label: '#12 回复工友'}),"
        " LianxinOutboxLabel({kind: 'request', label: '诉求 旧的'})]")
    assert named == ["New request 宿舍漏雨", "#12 Reply to the worker", "诉求 旧的"]
    await context.close()


async def test_officer_buttons_keep_to_the_policy_and_errors_show_by_the_button(
        server: LiveServer, browser: Browser) -> None:
    worker_ctx, worker, _ = await phone(browser, service_workers="block")
    await join(worker, server)
    await worker.goto(server.url + "/requests/new")
    await worker.locator("label.choice", has_text="工资").click()
    await worker.fill("#f-description", "上个月的加班费没算")
    await worker.click("#new-request button[type=submit]")
    await expect(worker.locator("h1")).to_contain_text("工资")
    request_id = worker.url.rsplit("/", 1)[1]

    context, page, console = await phone(browser, service_workers="block")
    await officer_login(page, server.url, await liaison_of(server, request_id))
    await page.goto(server.url + f"/officer/requests/{request_id}")
    # 上报 says where it goes: on the panel's button once chosen.
    await page.locator("#action-form label.action-escalate").click()
    escalate = page.locator("#action-form button[type=submit]")
    await expect(escalate).to_contain_text("上报给主席")
    await page.get_by_role("button", name="受理", exact=True).click()
    await expect(page.locator("#request-panel .badge").first).to_contain_text("已受理")
    # Reply pressed with nothing written or recorded: the message is under that button, on
    # screen.
    await officer_act(page, "reply")
    error = page.locator("#action-form #reply-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("请写几句话，或者录一段语音")
    await asyncio.sleep(0.3)  # the scroll into view
    assert await in_view(page, "#action-form #reply-error")
    await officer_act(page, "note", "先记一下")
    await expect(page.locator("#request-panel .timeline")).to_contain_text("先记一下")
    assert await violations(page, console) == []
    await context.close()
    await worker_ctx.close()


async def test_rating_starts_unselected_and_asks_for_stars(
        server: LiveServer, browser: Browser) -> None:
    context, page, console = await phone(browser, service_workers="block")
    await join(page, server)
    await page.goto(server.url + "/requests/new")
    await page.locator("label.choice", has_text="生活住宿").click()
    await page.fill("#f-description", "食堂的饭太咸")
    await page.click("#new-request button[type=submit]")
    await expect(page.locator("h1")).to_contain_text("生活住宿")
    request_id = page.url.rsplit("/", 1)[1]
    cadre_ctx, cadre, _ = await phone(browser, service_workers="block")
    await officer_login(cadre, server.url, await liaison_of(server, request_id))
    await cadre.goto(server.url + f"/officer/requests/{request_id}")
    await officer_act(cadre, "resolve", "已经和食堂说了")
    await expect(cadre.locator("#request-panel .badge").first).to_contain_text("已办结")

    await page.reload()
    stars = page.locator("form[action$='/confirm'] input[name=rating]")
    await expect(stars).to_have_count(5)
    assert await stars.evaluate_all("all => all.filter(s => s.checked).length") == 0
    await page.fill("#f-rc", "谢谢")
    await page.get_by_role("button", name="解决了，确认").click()
    error = page.locator("#rating-error")
    await expect(error).to_contain_text("点星星")
    assert await in_view(page, "#rating-error")
    await expect(page.locator("#f-rc")).to_have_value("谢谢")  # what was typed is kept
    await page.locator("label.choice", has_text="★★★★").first.click()
    await page.get_by_role("button", name="解决了，确认").click()
    await expect(page.locator("#main .badge").first).to_contain_text("已确认")
    await expect(page.locator(".timeline")).to_contain_text("★★★★")
    assert await violations(page, console) == []
    await context.close()
    await cadre_ctx.close()


async def test_pending_count_follows_approvals(server: LiveServer, browser: Browser) -> None:
    for _ in range(2):
        applicant_ctx, applicant, _ = await phone(browser, service_workers="block")
        await join(applicant, server, "chuangxingang")
        await applicant_ctx.close()
    context, page, console = await phone(browser, service_workers="block")
    await officer_login(page, server.url, CXG_CADRE)
    await page.goto(server.url + "/officer/pending")
    count = page.locator("#pending-count")
    before = int(await count.inner_text())
    assert before >= 2
    first = page.locator("#pending li.item").first
    # Each entry says team, employer and when it was sent.
    await expect(first).to_contain_text("班组：")
    await expect(first).to_contain_text("用工单位：")
    await expect(first).to_contain_text("申请于")
    await first.get_by_role("button", name="通过", exact=True).click()
    await expect(count).to_have_text(str(before - 1))
    await expect(page.locator("#pending .note-ok").first).to_contain_text("已通过")
    assert await violations(page, console) == []
    await context.close()


async def test_install_hint_keeps_its_button_on_one_line(
        server: LiveServer, browser: Browser) -> None:
    context, page, console = await phone(browser, service_workers="block")
    for language in ("zh_Hans", "en"):
        await context.add_cookies([{"name": "lx_lang", "value": language, "url": server.url}])
        await page.goto(server.url + "/")
        # Chromium shows it on `beforeinstallprompt`, which a test cannot raise: unhide it.
        await page.evaluate("document.getElementById('install-hint').hidden = false")
        button = page.locator("#install-hint button")
        box = await button.bounding_box()
        assert box is not None and box["height"] < 60, box
        assert await button.evaluate(
            "b => { const r = document.createRange(); r.selectNodeContents(b);"
            " return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; }") == 1
    assert await violations(page, console) == []
    await context.close()

