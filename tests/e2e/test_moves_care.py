"""On a 360 px phone: a worker moves to another site keeping their number and leaves it
again; a cadre logs a visit with one tap, with the server down; the chair's table. Every
page is checked for sideways scrolling, in Chinese and in English."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import CXG_CADRE, XBL_CADRE, XBL_CHAIR, fresh_phone
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_login

pytestmark = pytest.mark.e2e


async def fits(page: Page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, (page.url, width)


async def join(page: Page, url: str, name: str, phone: str) -> None:
    await join_in_browser(page, url, name, phone=phone)
    await page.wait_for_url("**/me")


async def test_move_leave_and_one_tap_visit(live_server: LiveServer, browser: Browser,
                                           shots: Path) -> None:
    xbl = live_server.cli("invite", "xibailiang").strip()
    cxg = live_server.cli("invite", "chuangxingang").strip()
    phone = fresh_phone()
    worker = await browser.new_context(**PHONE)
    page = await worker.new_page()
    await join(page, xbl, "王移动", phone)
    await expect(page.locator("#status")).to_contain_text("已入会")
    number = (await page.locator("#status").inner_text()).split("会员号：", 1)[1].split()[0]

    # The same phone scans the other site's poster: the form knows them and says so.
    await page.goto(cxg)
    await expect(page.locator("#moving")).to_contain_text(f"会员号 {number} 不变")
    await expect(page.locator("#f-phone")).to_have_value(phone)
    await fits(page)
    await page.screenshot(path=shots / "1-move-form.png", full_page=True)
    await page.check("input[name=consent]")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live_server.url + "/me")
    await expect(page.locator("#status")).to_contain_text("等待工会干部确认")
    await expect(page.locator("#status")).to_contain_text(f"会员号 {number} 保留")

    officer = await browser.new_context(**PHONE)
    cadre = await officer.new_page()
    await officer_login(cadre, live_server.url, CXG_CADRE)
    await cadre.goto(live_server.url + "/officer/pending")
    row = cadre.locator("li.item", has_text="王移动")
    await expect(row).to_contain_text(f"会员号 {number} 保留")
    await fits(cadre)
    await row.get_by_role("button", name="通过", exact=True).click()
    # The pending row already shows the kept number; only this text says it was approved.
    await expect(row).to_contain_text(f"已通过，会员号 {number}")
    await officer.close()

    await page.reload()
    await expect(page.locator("#status")).to_contain_text("已入会")
    await expect(page.locator("#status")).to_contain_text("陕建创新港项目工会")
    await expect(page.locator("#status")).to_contain_text(number)
    await page.get_by_role("link", name="不在这个工地干了（离场）").click()
    await fits(page)
    await page.screenshot(path=shots / "2-leave-confirm.png", full_page=True)
    await page.get_by_role("button", name="确认离场").click()
    await expect(page.locator("#status")).to_contain_text("已离场")
    await fits(page)
    await page.screenshot(path=shots / "3-left.png", full_page=True)
    assert await live_server.count(
        "SELECT COUNT(*) FROM member_move WHERE member_id = "
        "(SELECT id FROM member WHERE phone = $1)", phone) == 2
    await worker.close()


async def test_one_tap_visit_with_the_server_down(live_server: LiveServer, browser: Browser,
                                                  shots: Path) -> None:
    xbl = live_server.cli("invite", "xibailiang", "--team", "钢筋班组").strip()
    worker = await browser.new_context(**PHONE)
    phone = fresh_phone()
    await join(await worker.new_page(), xbl, "待走访", phone)
    await worker.close()
    member_id = (await live_server.query("SELECT id, liaison_id FROM member WHERE phone = $1",
                                         phone))[0]
    cadre_phone = (await live_server.query("SELECT phone FROM officer WHERE id = $1",
                                           member_id[1]))[0][0]
    assert cadre_phone == XBL_CADRE  # same team first

    officer = await browser.new_context(**PHONE)
    page = await officer.new_page()
    await officer_login(page, live_server.url, XBL_CADRE)
    await page.goto(live_server.url + "/officer/care")
    row = page.locator(f"#m{member_id[0]}")
    await expect(row).to_contain_text("从未联系")
    await fits(page)
    await page.screenshot(path=shots / "1-care-list.png", full_page=True)
    live_server.stop()
    try:
        await row.get_by_role("button", name="记走访").click()
        await expect(page.locator(".saved-note")).to_contain_text("已保存")
    finally:
        live_server.start()
    await page.evaluate("Lianxin.flush(true)")
    for _ in range(40):
        if await live_server.count("SELECT COUNT(*) FROM contact_log WHERE member_id = $1",
                                   member_id[0]):
            break
        await asyncio.sleep(0.5)
    assert await live_server.count("SELECT COUNT(*) FROM contact_log WHERE member_id = $1",
                                   member_id[0]) == 1
    await page.goto(live_server.url + "/officer/care")
    await expect(page.locator(f"#m{member_id[0]}")).to_contain_text("今天联系过")
    await officer.close()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
async def test_chairs_table_and_member_page_fit(live_server: LiveServer, browser: Browser,
                                                shots: Path, locale: str) -> None:
    context = await browser.new_context(**{**PHONE, "locale": locale})
    page = await context.new_page()
    await officer_login(page, live_server.url, XBL_CHAIR)
    await page.goto(live_server.url + "/officer/care")
    await expect(page.locator("#care-overview")).to_be_visible()
    await fits(page)
    await page.screenshot(path=shots / f"chair-{locale}.png", full_page=True)
    link = page.locator("a[href^='/officer/care?cadre=']").first
    await link.click()
    await expect(page.locator("#care-list")).to_be_visible()
    await fits(page)
    await page.screenshot(path=shots / f"cadre-list-{locale}.png", full_page=True)
    member = page.locator("#care-list li.item a[href^='/officer/members/']").first
    if await member.count():
        await member.click()
        await expect(page.locator("#care")).to_be_visible()
        await fits(page)
        await page.screenshot(path=shots / f"member-{locale}.png", full_page=True)
    await context.close()
