"""Duplicates and 我也遇到 on a 360 px phone (issue 12), in Chinese and English: the worker's
"handled together" box and shared-problem box, the one-tap join through the outbox script,
and the officer pages. Screenshots go to test-artifacts/<test name>."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import APIRequestContext, Browser, Page, expect

from server.web.middleware import LANGUAGE_COOKIE
from tests.conftest import XBL_CHAIR
from tests.e2e.conftest import PHONE, LiveServer, join_in_browser, officer_login

pytestmark = pytest.mark.e2e
WIDTH = 360


async def _csrf(api: APIRequestContext, url: str) -> str:
    html = await (await api.get(url)).text()
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, url
    return match.group(1)


async def _post(api: APIRequestContext, page_url: str, action: str, **form: str) -> Any:
    response = await api.post(action, form={"csrf_token": await _csrf(api, page_url), **form},
                              max_redirects=0)
    assert response.status == 303, (action, response.status, (await response.text())[:300])
    return response


async def _worker(browser: Browser, server: LiveServer) -> tuple[Any, Page]:
    context = await browser.new_context(**PHONE, base_url=server.url)
    page = await context.new_page()
    await join_in_browser(page, server.cli("invite", "xibailiang").strip(), "手机工友",
                          trade="木工")
    await expect(page.locator("#status")).to_be_visible()
    return context, page


async def _file(api: APIRequestContext, text: str) -> int:
    response = await api.post("/requests/new", multipart={
        "csrf_token": await _csrf(api, "/requests/new"), "category": "living",
        "description": text, "anonymous": "management", "client_id": str(uuid.uuid4())},
        max_redirects=0)
    assert response.status == 303
    return int(response.headers["location"].rsplit("/", 1)[1])


async def _fits(page: Page, server: LiveServer, path: str, shots: Path, name: str) -> None:
    """The page in both languages: no wider than the phone, screenshotted."""
    for language in ("zh_Hans", "en"):
        await page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language,
                                         "url": server.url}])
        response = await page.goto(server.url + path)
        assert response is not None and response.status == 200, path
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= WIDTH, (path, language, width)
        await page.screenshot(path=str(shots / f"{name}-{language}.png"), full_page=True)
    await page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "zh_Hans",
                                     "url": server.url}])


async def test_duplicate_and_shared_pages_on_a_phone(live_server: LiveServer,
                                                     browser: Browser, shots: Path) -> None:
    server = live_server
    first, page = await _worker(browser, server)
    other, _ = await _worker(browser, server)
    follower = await _file(page.context.request, "能不能建个电动车棚")
    master = await _file(other.request, "电动车没地方停，我是张三")

    chair_ctx = await browser.new_context(**PHONE, base_url=server.url)
    chair = await chair_ctx.new_page()
    await officer_login(chair, server.url, XBL_CHAIR)
    api = chair_ctx.request
    await _post(api, f"/officer/requests/{follower}", f"/officer/requests/{follower}/duplicate",
                duplicate_of=str(master))
    await _post(api, f"/officer/requests/{master}", f"/officer/requests/{master}/reply",
                note="已经跟项目部说了，正在选地方")
    await _post(api, f"/officer/requests/{master}", f"/officer/requests/{master}/resolve",
                note="车棚建好了，在北门，可以充电")
    shared = await _post(api, "/officer/shared", "/officer/shared",
                         title="工地需要电动车棚，充电要安全",
                         summary="下雨天车淋湿，楼道里充电不安全。",
                         client_id=str(uuid.uuid4()))
    problem = shared.headers["location"].rsplit("/", 1)[1]

    # The worker: the box on their requests page, one tap through the outbox script.
    await _fits(page, server, "/requests", shots, "worker-requests")
    await page.goto(server.url + "/requests")
    await page.click(f'form[action="/shared/{problem}/join"] button')
    await page.wait_for_url(f"{server.url}/shared/{problem}")
    await expect(page.locator("#shared-joined")).to_be_visible()
    count = await server.count("SELECT COUNT(*) FROM shared_join WHERE problem_id = $1",
                               int(problem))
    assert count == 1
    await _fits(page, server, f"/shared/{problem}", shots, "worker-shared")
    await _fits(page, server, f"/requests/{follower}", shots, "worker-follower")
    text = await page.content()
    assert "不予受理" not in text and "张三" not in text
    await expect(page.locator("#followed")).to_be_visible()

    await _fits(chair, server, "/officer/shared", shots, "officer-shared-list")
    await _fits(chair, server, f"/officer/shared/{problem}", shots, "officer-shared")
    await _fits(chair, server, f"/officer/requests/{follower}", shots, "officer-follower")
    await _fits(chair, server, f"/officer/requests/{master}", shots, "officer-master")
    for context in (first, other, chair_ctx):
        await context.close()


async def test_me_too_tapped_offline_is_sent_once_when_back(live_server: LiveServer,
                                                           browser: Browser) -> None:
    """No signal on site: the tap waits in the outbox (the server really stopped), is sent
    when it is back, and counts once however often the outbox tries."""
    from tests.e2e.test_offline import wait_empty

    server = live_server
    context, page = await _worker(browser, server)
    chair_ctx = await browser.new_context(**PHONE, base_url=server.url)
    chair = await chair_ctx.new_page()
    await officer_login(chair, server.url, XBL_CHAIR)
    shared = await _post(chair_ctx.request, "/officer/shared", "/officer/shared",
                         title="宿舍热水不够用", client_id=str(uuid.uuid4()))
    problem = shared.headers["location"].rsplit("/", 1)[1]
    await page.goto(server.url + "/requests")
    server.stop()
    try:
        await page.click(f'form[action="/shared/{problem}/join"] button')
        await expect(page.locator(".saved-note")).to_be_visible()
    finally:
        server.start()
    await page.goto(server.url + "/requests")
    await wait_empty(page, within=40)
    count = await server.count("SELECT COUNT(*) FROM shared_join WHERE problem_id = $1",
                               int(problem))
    assert count == 1
    await context.close()
    await chair_ctx.close()
