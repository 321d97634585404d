"""A wage case (欠薪) end to end in a real Chromium: a worker fills in the amount owed, the
workers affected and a photo of the pay slip with the server really stopped; the outbox
keeps it (fields and photo bytes) and sends it when the server is back; the chair then
sees the amounts on the request and in the project's figures, and records a partial
payment that the figures follow."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Browser, expect

from tests.conftest import XBL_CHAIR
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_login

pytestmark = pytest.mark.e2e


@pytest.fixture
async def server(live_server: LiveServer) -> LiveServer:
    if live_server.process is None or live_server.process.poll() is not None:
        live_server.start()
    return live_server


async def test_wage_case_filed_offline_reaches_the_chairs_figures(
        server: LiveServer, browser: Browser, shots: Path, tmp_path: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await join_in_browser(page, server.cli("invite", "xibailiang").strip(), "欠薪工友")
    await expect(page.locator("#status")).to_contain_text("已入会")
    await page.goto(server.url + "/requests/new")
    await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
    await page.reload()
    assert await page.evaluate("!!navigator.serviceWorker.controller")
    # The wage fields show once 工资 is chosen.
    await expect(page.locator(".wage-fields")).to_be_hidden()

    server.stop()
    await page.locator("label.choice", has_text="工资").click()
    await expect(page.locator(".wage-fields")).to_be_visible()
    await page.fill("#f-description", "钢筋班组三个月工资没发")
    await page.fill("#f-amount-owed", "36,000")
    await page.fill("#f-workers", "3")
    await page.fill("#f-employer-owing", "某某劳务分包队")
    await page.fill("#f-wage-period", "2026 年 9 月到 11 月")
    slip = tmp_path / "slip.jpg"
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 180, 90)).save(out, "JPEG", quality=80)
    slip.write_bytes(out.getvalue())
    await page.set_input_files("#f-photo", str(slip))
    await page.screenshot(path=shots / "wage-form-360.png", full_page=True)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]  # type: ignore[index]
    await page.click("#new-request button[type=submit]")
    await expect(page.locator(".saved-note")).to_contain_text("已保存，有网络时自动发送")
    queued = await page.evaluate(
        "LianxinOutbox.all().then(a => a.map(i => [i.fields.filter(f => f[0] === "
        "'amount_owed')[0][1], i.files.length]))")
    assert queued == [["36,000", 1]]

    server.start()
    deadline = asyncio.get_running_loop().time() + 40
    while int(await page.evaluate("LianxinOutbox.summary().then(s => s.total)")):
        assert asyncio.get_running_loop().time() < deadline, "the wage case was not sent"
        await asyncio.sleep(0.5)
    rows = await server.query(
        "SELECT r.id, r.amount_owed, r.workers_affected, r.employer_owing, "
        "(SELECT COUNT(*) FROM request_photo p WHERE p.request_id = r.id) "
        "FROM service_request r JOIN member m ON m.id = r.member_id WHERE m.name = $1",
        "欠薪工友")
    assert len(rows) == 1, rows
    request_id, owed, workers, employer, photos = rows[0]
    assert (owed, workers, employer, int(str(photos))) == (36000, 3, "某某劳务分包队", 1)

    chair_ctx = await browser.new_context(**PHONE)
    chair = await chair_ctx.new_page()
    await officer_login(chair, server.url, XBL_CHAIR)
    await chair.goto(server.url + "/officer/figures")
    await expect(chair.locator("#fig-wage-owed")).to_have_text("36,000")
    await expect(chair.locator("#fig-wage-workers")).to_have_text("3")
    await chair.goto(f"{server.url}/officer/requests/{request_id}")
    await expect(chair.locator("#wage-owed")).to_contain_text("36,000")
    await chair.locator(".wage-milestones summary").click()
    partial = chair.locator("form.action-wage_partial")
    await partial.locator("input[name=amount]").fill("10000")
    await partial.locator("button[type=submit]").click()
    await expect(chair.locator("#wage-recovered")).to_contain_text("10,000")
    await chair.screenshot(path=shots / "chair-wage-case-360.png", full_page=True)
    width = await chair.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]  # type: ignore[index]
    await chair.goto(server.url + "/officer/figures")
    await expect(chair.locator("#fig-wage-recovered")).to_have_text("10,000")
    await chair.screenshot(path=shots / "chair-figures-wages-360.png", full_page=True)
    for c in (context, chair_ctx):
        await c.close()
