"""A wage request from filing to rating, every role on its own phone-sized browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.conftest import XBL_CADRE, XBL_CHAIR, XBL_MANAGER
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_act, officer_login

pytestmark = pytest.mark.e2e
WORKER = "田大壮"


async def officer_page(browser: Browser, server: LiveServer, phone: str) -> tuple[
        BrowserContext, Page]:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await officer_login(page, server.url, phone)
    return context, page


async def figures(page: Page, server: LiveServer) -> tuple[int, int]:
    await page.goto(server.url + "/officer/figures")
    total = int(await page.locator("#fig-total").inner_text())
    rated = re.search(r"（(\d+)", await page.locator("#figures").inner_text())
    assert rated
    return total, int(rated.group(1))


async def test_wage_request_end_to_end(live_server: LiveServer, browser: Browser,
                                       shots: Path, tmp_path: Path) -> None:
    server = live_server
    photo = tmp_path / "wages.jpg"
    Image.new("RGB", (3000, 2000), "gray").save(photo, "JPEG", quality=95)

    chair_ctx, chair = await officer_page(browser, server, XBL_CHAIR)
    total_before, rated_before = await figures(chair, server)

    # The worker joins (xibailiang approves by itself) in the 钢筋班组, whose cadre is 刘芳.
    worker_ctx = await browser.new_context(**PHONE)
    worker = await worker_ctx.new_page()
    await join_in_browser(worker, server.cli("invite", "xibailiang").strip(), WORKER,
                          team="钢筋班组")
    await expect(worker.locator("#status")).to_contain_text("已入会")

    await worker.get_by_role("link", name="反映问题").click()
    await worker.locator("label.choice", has_text="工资").click()
    await worker.fill("#f-description", "十月份工资到现在还没发，班组长说老板没给钱")
    await worker.set_input_files("#f-photo", str(photo))
    await worker.wait_for_function(
        "document.querySelector('#f-photo').files[0] && "
        "document.querySelector('#f-photo').files[0].size < 400000")
    await worker.screenshot(path=shots / "1-worker-files.png", full_page=True)
    await worker.click("button[type=submit]")
    await expect(worker.locator("h1")).to_contain_text("工资")
    request_url = worker.url
    request_id = request_url.rsplit("/", 1)[1]
    await expect(worker.locator(".photos img")).to_have_count(1)

    cadre_ctx, cadre = await officer_page(browser, server, XBL_CADRE)
    await cadre.goto(server.url + "/officer/requests")
    await cadre.click(f"a[href='/officer/requests/{request_id}']")
    panel = cadre.locator("#request-panel")
    await expect(panel).to_contain_text(WORKER)
    await cadre.get_by_role("button", name="受理", exact=True).click()
    await expect(panel).to_contain_text("已受理")
    await officer_act(cadre, "reply", "收到，我今天去找班组长问清楚")
    await expect(panel).to_contain_text("收到，我今天去找班组长问清楚")
    await officer_act(cadre, "escalate")
    await expect(panel.locator(".badge").nth(1)).to_contain_text("工会主席")
    await cadre.screenshot(path=shots / "2-cadre-acted.png", full_page=True)

    await chair.goto(server.url + f"/officer/requests/{request_id}")
    await officer_act(chair, "refer", "请项目部核实十月份工资发放情况")
    await expect(chair.locator("#request-panel")).to_contain_text("已转项目管理人员")

    manager_ctx, manager = await officer_page(browser, server, XBL_MANAGER)
    await manager.goto(server.url + f"/officer/requests/{request_id}")
    manager_panel = manager.locator("#request-panel")
    await expect(manager_panel).to_contain_text("十月份工资")
    await expect(manager_panel).to_contain_text("匿名工友")
    assert WORKER not in await manager.content()
    assert await manager.locator(".photos img").count() == 0
    await officer_act(manager, "management_reply", "已督促劳务公司，本周五前发放")
    await expect(manager_panel).to_contain_text("本周五前发放")
    await manager.screenshot(path=shots / "3-manager-sees-no-name.png", full_page=True)

    await chair.reload()
    await officer_act(chair, "resolve", "十月份工资已于周五全部发放")
    await expect(chair.locator("#request-panel .badge").first).to_contain_text("已办结")

    await worker.goto(request_url)
    timeline = worker.locator(".timeline")
    for text in ("提交了诉求", "已受理", "收到，我今天去找班组长问清楚", "已上报",
                 "已转项目管理人员", "本周五前发放", "十月份工资已于周五全部发放"):
        await expect(timeline).to_contain_text(text)
    await worker.screenshot(path=shots / "4-worker-timeline.png", full_page=True)
    await worker.locator("label.choice", has_text="★★★★★").first.click()
    await worker.fill("#f-rc", "谢谢工会")
    await worker.get_by_role("button", name="解决了，确认").click()
    await expect(worker.locator("#main .badge").first).to_contain_text("已确认")
    await expect(timeline).to_contain_text("工友评价")
    await worker.screenshot(path=shots / "5-confirmed-rated.png", full_page=True)

    total_after, rated_after = await figures(chair, server)
    assert total_after == total_before + 1
    assert rated_after == rated_before + 1
    await chair.screenshot(path=shots / "6-chair-figures.png", full_page=True)
    for context in (worker_ctx, cadre_ctx, chair_ctx, manager_ctx):
        await context.close()
