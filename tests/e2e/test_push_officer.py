"""The opt-in to pushes on a cadre's inbox page, in Chromium: visible where the browser can
push, with the promise about what the lock screen shows; and the CSRF token the service
worker asks for when it renews a subscription (`pushsubscriptionchange`)."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import XBL_CADRE
from tests.e2e.conftest import PHONE, LiveServer, officer_login

pytestmark = pytest.mark.e2e


async def test_officer_inbox_shows_the_push_opt_in(live_server: LiveServer,
                                                   browser: Browser) -> None:
    server = live_server
    context = await browser.new_context(**PHONE)
    await context.grant_permissions(["notifications"], origin=server.url)
    page = await context.new_page()
    await officer_login(page, server.url, XBL_CADRE)
    await page.goto(server.url + "/officer/inbox")
    await page.evaluate("navigator.serviceWorker.ready")
    optin = page.locator("#push-optin")
    await expect(optin).to_be_visible()
    await expect(optin.get_by_role("button", name="开启手机通知")).to_be_visible()
    await expect(optin).to_contain_text("不显示诉求内容，也不显示工友的名字")
    # Fits a 360 px phone: nothing in the box wider than the screen.
    assert await optin.evaluate("el => el.scrollWidth <= document.documentElement.clientWidth")
    # The service worker, with no page, gets the session's token: the cookie goes with its
    # requests, and the token is the one the page carries.
    for _ in range(100):
        if context.service_workers:
            break
        await asyncio.sleep(0.1)
    worker = context.service_workers[0]
    token = await worker.evaluate(
        "async () => (await (await fetch('/push/csrf', {credentials: 'same-origin'})).json()).csrf")
    assert token == await page.get_attribute("meta[name=csrf-token]", "content")
    assert await worker.evaluate("typeof self.renewSubscription") == "function"
    await context.close()
