"""Issue 11 in Chromium at 360 px: a cadre files a request for a worker heard by phone, and
answers it from the chair's canned replies (the picker fills the reply box, the cadre edits
before sending); the worker reads both. No Content-Security-Policy violation on the way.
Screenshots in both languages go to test-artifacts/<test name>/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from server.web.middleware import LANGUAGE_COOKIE
from tests.conftest import XBL_CHAIR
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_login

pytestmark = pytest.mark.e2e
CSP_PROBE = ("window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
             "window.__csp.push(e.violatedDirective + ' ' + (e.sample || e.blockedURI)));")


async def phone(browser: Browser) -> tuple[BrowserContext, Page, list[str]]:
    context = await browser.new_context(**PHONE)
    await context.add_init_script(CSP_PROBE)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text)
            if "Content Security Policy" in m.text else None)
    return context, page, console


async def shoot(page: Page, server: LiveServer, folder: Path, name: str) -> None:
    """The page as it is, in Chinese and in English (reloaded under the language cookie)."""
    for language in ("zh_Hans", "en"):
        await page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language,
                                         "url": server.url}])
        await page.reload()
        await page.screenshot(path=folder / f"{name}-{language}.png", full_page=True)
    await page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "zh_Hans",
                                     "url": server.url}])
    await page.reload()


async def test_cadre_files_for_a_worker_and_answers_from_canned_replies(
        live_server: LiveServer, browser: Browser, shots: Path) -> None:
    server = live_server
    worker_ctx, worker, _ = await phone(browser)
    number = await join_in_browser(worker, server.cli("invite", "xibailiang").strip(),
                                   "电话工友", trade="木工")
    await expect(worker.locator("#status")).to_be_visible()
    rows = await server.query("SELECT m.id, o.phone, o.name FROM member m JOIN officer o "
                              "ON o.id = m.liaison_id WHERE m.phone = $1", number)
    member_id, cadre_phone, cadre_name = rows[0]

    chair_ctx, chair, chair_console = await phone(browser)
    await officer_login(chair, server.url, XBL_CHAIR)
    await chair.goto(server.url + "/officer/canned")
    for text in ("收到，我们这两天去现场看一下，有进展马上告诉你。",
                 "这件事已经报给工会主席，主席会找项目部协调，请耐心等几天。"):
        await chair.fill("#f-canned-new", text)
        await chair.click("#canned form.box button[type=submit]")
        await expect(chair.locator(".canned-items")).to_contain_text(text)
    await shoot(chair, server, shots, "canned-page")
    assert not [*chair_console, *await chair.evaluate("window.__csp")]

    cadre_ctx, cadre, cadre_console = await phone(browser)
    await officer_login(cadre, server.url, str(cadre_phone))
    await cadre.goto(f"{server.url}/officer/members/{member_id}")
    await cadre.click(f"a[href='/officer/members/{member_id}/requests/new']")
    await cadre.check("input[name=category][value=living]")
    await cadre.fill("#f-description", "宿舍的空调坏了，晚上热得睡不着")
    await cadre.check("input[name=heard_by][value=phone]")
    await shoot(cadre, server, shots, "on-behalf-form")
    await cadre.check("input[name=category][value=living]")
    await cadre.fill("#f-description", "宿舍的空调坏了，晚上热得睡不着")
    await cadre.check("input[name=heard_by][value=phone]")
    # Without the worker's consent it is refused, what was typed kept.
    await cadre.click("#new-request button[type=submit]")
    await expect(cadre.locator("#consent-error")).to_be_visible()
    await expect(cadre.locator("#f-description")).to_have_value("宿舍的空调坏了，晚上热得睡不着")
    await cadre.check("input[name=consent]")
    await cadre.click("#new-request button[type=submit]")
    await cadre.wait_for_url(f"{server.url}/officer/requests/*")
    request_id = cadre.url.rsplit("/", 1)[1]
    await expect(cadre.locator(".timeline")).to_contain_text(f"由干部{cadre_name}代为提交（电话）")

    picker = cadre.locator(".canned-picker")
    await picker.locator("summary").click()
    await expect(picker.locator(".canned-use").first).to_be_visible()
    await cadre.evaluate("document.querySelector('.canned-picker').scrollIntoView()")
    for language in ("zh_Hans", "en"):
        await cadre.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language,
                                          "url": server.url}])
        await cadre.reload()
        await cadre.locator(".canned-picker summary").click()
        await cadre.locator(".canned-picker").screenshot(
            path=shots / f"canned-picker-{language}.png")
        await cadre.screenshot(path=shots / f"request-with-picker-{language}.png",
                               full_page=True)
    await cadre.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "zh_Hans",
                                      "url": server.url}])
    await cadre.reload()
    await cadre.locator(".canned-picker summary").click()
    await cadre.locator(".canned-picker .canned-use").nth(1).click()
    box = cadre.locator("#f-text")
    await expect(box).to_have_value("这件事已经报给工会主席，主席会找项目部协调，请耐心等几天。")
    await expect(box).to_be_focused()
    await expect(picker).not_to_have_attribute("open", "")
    await box.press("End")
    await box.type("周五前答复你。")
    await expect(cadre.locator("#action-form input[name=action][value=reply]")).to_be_checked()
    await cadre.click("#action-form button[type=submit]")
    await expect(cadre.locator(".timeline")).to_contain_text("请耐心等几天。周五前答复你。")
    assert not [*cadre_console, *await cadre.evaluate("window.__csp")]

    await worker.goto(f"{server.url}/requests/{request_id}")
    await expect(worker.locator(".timeline")).to_contain_text(
        f"由干部{cadre_name}代为提交（电话）")
    await expect(worker.locator(".timeline")).to_contain_text("请耐心等几天。周五前答复你。")
    await worker.screenshot(path=shots / "worker-request.png", full_page=True)
    for context in (worker_ctx, chair_ctx, cadre_ctx):
        await context.close()
