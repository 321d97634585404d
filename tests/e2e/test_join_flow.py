"""A worker joins on a phone-sized Chromium; a cadre approves; the worker shows the card."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import CXG_CADRE, fresh_phone
from tests.e2e.conftest import PHONE, LiveServer, officer_login

pytestmark = pytest.mark.e2e


async def test_join_approve_card(live_server: LiveServer, browser: Browser,
                                 shots: Path) -> None:
    join_url = live_server.cli("invite", "chuangxingang").strip()
    assert join_url.startswith(live_server.url + "/join/")
    worker = await browser.new_context(**PHONE)
    page = await worker.new_page()
    await page.goto(join_url)
    await expect(page.locator("h1")).to_contain_text("陕建创新港项目工会")
    await page.screenshot(path=shots / "1-join-form.png", full_page=True)

    await page.fill("#f-name", "张三")
    await page.fill("#f-phone", "12345678")
    await page.select_option("#f-trade", "钢筋工")
    await page.fill("#f-hometown", "陕西商洛")
    await page.fill("#f-id_number", "110105194912310021")  # wrong check digit (should be X)
    await page.click("button[type=submit]")
    await expect(page.locator("#phone-error")).to_have_text("手机号应为 11 位数字，以 1 开头")
    await expect(page.locator("#id_number-error")).to_contain_text("校验位不对")
    await expect(page.locator("#consent-error")).to_contain_text("请阅读并同意")
    await expect(page.locator("#f-name")).to_have_value("张三")
    await expect(page.locator("#f-hometown")).to_have_value("陕西商洛")
    await expect(page.locator("#f-trade")).to_have_value("钢筋工")
    client_id = await page.input_value("input[name=client_id]")
    assert len(client_id) == 36, "the page stamps a client_id before the first send"
    await page.screenshot(path=shots / "2-errors.png", full_page=True)

    phone = fresh_phone()
    await page.fill("#f-phone", phone)
    await page.fill("#f-id_number", "11010519491231002X")
    await page.check("input[name=consent]")
    await page.click("button[type=submit]")
    await expect(page).to_have_url(live_server.url + "/me")
    await expect(page.locator("#status")).to_contain_text("等待工会干部确认")
    await page.screenshot(path=shots / "3-pending.png", full_page=True)

    officer = await browser.new_context(**PHONE)
    cadre = await officer.new_page()
    await officer_login(cadre, live_server.url, CXG_CADRE)
    await cadre.goto(live_server.url + "/officer/pending")
    row = cadre.locator("li.item", has_text="张三").filter(has_text=phone[-4:])
    await expect(row).to_contain_text(phone[:3] + "****" + phone[-4:])
    await cadre.screenshot(path=shots / "4-pending-list.png", full_page=True)
    await row.get_by_role("button", name="通过", exact=True).click()
    await expect(row).to_contain_text("已通过")
    await cadre.screenshot(path=shots / "5-approved.png", full_page=True)

    await page.reload()
    await expect(page.locator("#status")).to_contain_text("已入会")
    await page.get_by_role("link", name="出示会员卡").click()
    await expect(page.locator("#card")).to_contain_text("张三")
    await expect(page.locator("#card svg").last).to_be_visible()
    await page.screenshot(path=shots / "6-card.png", full_page=True)
    await worker.close()
    await officer.close()
