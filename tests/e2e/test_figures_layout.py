"""The upper union's project table, a project's figures and the chair's headcount form on a
360 px phone, in Chinese and in English: the wide table scrolls inside its own box and never
widens the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import UPPER, XBL_CHAIR
from tests.e2e.conftest import PHONE, LiveServer, officer_login

pytestmark = pytest.mark.e2e

WIDTH = PHONE["viewport"]["width"]  # type: ignore[index]


async def page_width(page: Page) -> int:
    return int(await page.evaluate("document.documentElement.scrollWidth"))


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
async def test_figures_pages_fit_a_phone(live_server: LiveServer, browser: Browser,
                                         shots: Path, locale: str) -> None:
    base = live_server.url
    context = await browser.new_context(**{**PHONE, "locale": locale})
    page = await context.new_page()
    await officer_login(page, base, UPPER)
    await page.goto(base + "/officer/figures")
    table = page.locator("#projects")
    await expect(table).to_be_visible()
    await expect(page.locator("#projects thead")).to_contain_text(
        "入会率" if locale == "zh-CN" else "Membership rate")
    await page.screenshot(path=shots / f"upper-{locale}.png", full_page=True)
    assert await page_width(page) <= WIDTH, "the page itself must not scroll sideways"
    box = page.locator("#project-table .table-scroll")
    scroll, client = await box.evaluate("b => [b.scrollWidth, b.clientWidth]")
    assert scroll > client, "the wide table scrolls inside its box"
    # Sorting is a link: it works without JavaScript, and the page stays within the phone.
    await page.locator("#projects thead a[data-sort=members]").click()
    await expect(page.locator("#projects thead th[aria-sort]")).to_have_count(1)
    assert "sort=members" in page.url and await page_width(page) <= WIDTH
    await page.locator("#projects tbody th a").first.click()
    await expect(page.locator("#project-row")).to_be_visible()
    await page.screenshot(path=shots / f"project-{locale}.png", full_page=True)
    assert await page_width(page) <= WIDTH

    chair_context = await browser.new_context(**{**PHONE, "locale": locale})
    chair = await chair_context.new_page()
    await officer_login(chair, base, XBL_CHAIR)
    await chair.goto(base + "/officer/coverage")
    await chair.fill("#f-headcount", "-3")
    await chair.click("#coverage-form button[type=submit]")
    await expect(chair.locator("#headcount-error")).to_contain_text(
        "不能是负数" if locale == "zh-CN" else "cannot be negative")
    await chair.fill("#f-headcount", "400")
    await chair.click("#coverage-form button[type=submit]")
    await expect(chair.locator("#cov-headcount")).to_have_text("400")
    await chair.screenshot(path=shots / f"coverage-{locale}.png", full_page=True)
    assert await page_width(chair) <= WIDTH
    await chair.goto(base + "/officer/figures")
    await expect(chair.locator("#coverage")).to_be_visible()
    assert await page_width(chair) <= WIDTH
    await context.close()
    await chair_context.close()
