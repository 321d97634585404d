"""The live queue in a browser: a chair's queue is open in one context, a worker files an
urgent request in another, and the row appears without a reload within the poll interval;
unchanged polls are 304s, none are sent while the tab is hidden. Then the worker reads
"你标了很急" and, once the cadre opened it, "干部已查看". Screenshots at 360 px, zh and en."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Response, expect

from tests.conftest import XBL_CADRE, XBL_CHAIR, clone_database, module_name
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_login

pytestmark = pytest.mark.e2e
POLL_SECONDS = 2


@pytest.fixture(scope="module")
async def live_server(template_url: str, tmp_path_factory: pytest.TempPathFactory,
                      request: pytest.FixtureRequest) -> AsyncIterator[LiveServer]:
    """The shared fixture's server, polling every POLL_SECONDS so the test is quick."""
    name = module_name(request)
    workdir = tmp_path_factory.mktemp("live_" + name)
    db_url, drop = await clone_database(template_url, workdir, "live_" + name)
    server = LiveServer(db_url, workdir)
    server.start(LIANXIN_QUEUE_POLL_SECONDS=str(POLL_SECONDS))
    yield server
    server.stop()
    await drop()


async def to_english(page: Page) -> None:
    await page.locator("a.lang-switch").first.click()
    await page.wait_for_load_state()


async def test_new_request_appears_in_open_queue(live_server: LiveServer, browser: Browser,
                                                 shots: Path) -> None:
    server = live_server
    chair_ctx = await browser.new_context(**PHONE)
    chair = await chair_ctx.new_page()
    await officer_login(chair, server.url, XBL_CHAIR)
    await chair.goto(server.url + "/officer/requests")
    await expect(chair.locator("#request-table")).to_have_attribute(
        "hx-trigger", f"every {POLL_SECONDS}s, lx-refresh")
    polls: list[int] = []

    def on_response(response: Response) -> None:
        if "/officer/requests" in response.url and response.request.headers.get(
                "hx-request") == "true":
            polls.append(response.status)

    chair.on("response", on_response)
    await chair.evaluate("window.__sameDocument = true")
    await chair.wait_for_timeout(POLL_SECONDS * 1000 * 2 + 500)
    assert polls and set(polls) == {304}, polls

    # Hidden tab: no polls at all.
    await chair.evaluate("""Object.defineProperty(document, 'visibilityState',
        {value: 'hidden', configurable: true})""")
    sent = len(polls)
    await chair.wait_for_timeout(POLL_SECONDS * 1000 * 2 + 500)
    assert len(polls) == sent, polls
    await chair.evaluate("""delete document.visibilityState;
        document.dispatchEvent(new Event('visibilitychange'))""")

    # A worker joins and files an urgent request on another phone.
    worker_ctx = await browser.new_context(**PHONE)
    worker = await worker_ctx.new_page()
    await join_in_browser(worker, server.cli("invite", "xibailiang").strip(), "马小军",
                          team="钢筋班组")
    await expect(worker.locator("#status")).to_contain_text("已入会")
    await worker.get_by_role("link", name="反映问题").click()
    await worker.locator("label.choice", has_text="安全").click()
    await worker.fill("#f-description", "3号楼脚手架连墙件松了，风一大就晃")
    await worker.check("input[name=urgency]")
    await worker.click("button[type=submit]")
    await expect(worker.locator("#urgent-note")).to_contain_text("你标了很急")
    request_id = worker.url.rsplit("/", 1)[1]

    # The row appears in the chair's open queue by itself, first (urgent), marked 新.
    row = chair.locator(f"li[data-request='{request_id}']")
    await expect(row).to_be_visible(timeout=POLL_SECONDS * 1000 * 3)
    assert await chair.evaluate("window.__sameDocument === true")
    await expect(row.locator("[data-mark=new]")).to_have_text("新")
    await expect(row).to_contain_text("很急")
    await expect(chair.locator("#request-table li.item").first).to_have_attribute(
        "data-request", request_id)
    await expect(chair.locator("#officer-badges")).to_contain_text("待受理")
    await chair.screenshot(path=shots / "queue-zh.png", full_page=False)

    # The liaison cadre opens it: the worker sees 干部已查看 (no 新回复).
    cadre_ctx = await browser.new_context(**PHONE)
    cadre = await cadre_ctx.new_page()
    await officer_login(cadre, server.url, XBL_CADRE)
    await cadre.goto(server.url + f"/officer/requests/{request_id}")
    await worker.reload()
    await expect(worker.locator("#viewed")).to_contain_text("干部已查看")
    await worker.screenshot(path=shots / "worker-zh.png", full_page=True)
    await worker.goto(server.url + "/requests")
    await expect(worker.locator(f"[data-viewed='{request_id}']")).to_be_visible()
    await expect(worker.locator("#my-request-list")).not_to_contain_text("新回复")

    # The chair's queue drops 新 at the next poll (a cadre has opened it).
    await expect(row.locator("[data-mark=new]")).to_have_count(
        0, timeout=POLL_SECONDS * 1000 * 3)

    # English.
    await to_english(chair)
    await expect(chair.locator("#officer-badges")).to_contain_text("waiting")
    await chair.screenshot(path=shots / "queue-en.png", full_page=False)
    await worker.goto(server.url + f"/requests/{request_id}")
    await to_english(worker)
    await expect(worker.locator("#urgent-note")).to_contain_text("You marked it urgent.")
    await expect(worker.locator("#viewed")).to_contain_text("Seen by a cadre")
    await worker.screenshot(path=shots / "worker-en.png", full_page=True)
    for ctx in (chair_ctx, worker_ctx, cadre_ctx):
        await ctx.close()
