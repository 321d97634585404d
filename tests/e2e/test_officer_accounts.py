"""Officer accounts on a 360 px phone, in Chinese and in English: a chair adds a cadre, the
cadre sets a password with the code, the chair deactivates them; the upper union's list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import UPPER, XBL_CHAIR, fresh_phone
from tests.e2e.conftest import PHONE, LiveServer, officer_login

pytestmark = pytest.mark.e2e

WORDS = {
    "zh-CN": {"title": "干部账号", "added": "已为", "off": "已停用"},
    "en-US": {"title": "Officer accounts", "added": "Account created", "off": "deactivated"},
}


async def assert_fits(page: Page, what: str) -> None:
    """Nothing wider than the phone: no sideways scrolling on a 360 px screen."""
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what}: {width} px wide"


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
async def test_accounts_pages_fit_a_phone(live_server: LiveServer, browser: Browser,
                                          shots: Path, locale: str) -> None:
    server = live_server
    words = WORDS[locale]
    context = await browser.new_context(**{**PHONE, "locale": locale})
    chair = await context.new_page()
    await officer_login(chair, server.url, XBL_CHAIR)
    await chair.goto(server.url + "/officer/officers")
    await expect(chair.locator("h1")).to_contain_text(words["title"])
    await chair.locator("#accounts details summary").first.click()
    await assert_fits(chair, "chair's list")
    await chair.screenshot(path=shots / f"{locale}-1-chair-list.png", full_page=True)

    name, phone = f"测试干部{locale[:2]}", fresh_phone()
    await chair.fill("#f-name", name)
    await chair.fill("#f-phone", phone)
    await chair.select_option("#f-role", "cadre")
    await chair.click("#add button[type=submit]")
    await expect(chair.locator("#result")).to_contain_text(words["added"])
    code = (await chair.locator("#password-code").inner_text()).strip()
    assert re.fullmatch(r"\d{5} \d{5}", code)
    await assert_fits(chair, "code shown")
    await chair.screenshot(path=shots / f"{locale}-2-code.png", full_page=True)

    # The new cadre sets their password on their own phone.
    cadre_ctx = await browser.new_context(**{**PHONE, "locale": locale})
    cadre = await cadre_ctx.new_page()
    await cadre.goto(server.url + "/officer/login")
    await cadre.click("a[href='/officer/password']")
    await assert_fits(cadre, "set-password page")
    await cadre.fill("#f-phone", phone)
    await cadre.fill("#f-code", code)
    await cadre.fill("#f-password", "cadre-pass-2026")
    await cadre.fill("#f-repeat", "cadre-pass-2026")
    await cadre.screenshot(path=shots / f"{locale}-3-set-password.png", full_page=True)
    await cadre.click("button[type=submit]")
    await cadre.wait_for_url(server.url + "/officer")

    # The chair deactivates them: their next page is the sign-in page.
    item = chair.locator("li.account", has_text=name)
    await item.locator("summary").click()
    await item.locator("input[name=confirm]").check()
    await item.locator("form[action$='/deactivate'] button").click()
    await expect(chair.locator("#result")).to_contain_text(words["off"])
    await assert_fits(chair, "deactivated")
    await chair.screenshot(path=shots / f"{locale}-4-deactivated.png", full_page=True)
    await cadre.goto(server.url + "/officer/requests")
    assert "/officer/login" in cadre.url

    upper_ctx = await browser.new_context(**{**PHONE, "locale": locale})
    upper = await upper_ctx.new_page()
    await officer_login(upper, server.url, UPPER)
    await upper.goto(server.url + "/officer/officers")
    await expect(upper.locator("#accounts")).to_contain_text("张卫东")
    await assert_fits(upper, "upper union's list")
    await upper.screenshot(path=shots / f"{locale}-5-upper.png", full_page=True)
    for ctx in (context, cadre_ctx, upper_ctx):
        await ctx.close()
