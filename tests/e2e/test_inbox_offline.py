"""A worker's inbox and notices (with their photos) open with no signal: the service worker
keeps the copies it fetched while there was one (the server is really stopped); a notice
with a photo written with no signal is published once when it returns."""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import XBL_CHAIR
from tests.e2e.conftest import PHONE, LiveServer, officer_login
from tests.e2e.test_offline import file_request, join, wait_empty
from tests.factories import jpeg_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
async def server(live_server: LiveServer) -> AsyncIterator[LiveServer]:
    """The live server, guaranteed to be running again after a test that stops it."""
    yield live_server
    if live_server.process is None or live_server.process.poll() is not None:
        live_server.start()


def uid() -> str:
    # SQLite keeps UUIDs as text; asyncpg takes either.
    return str(uuid.uuid4())


def when(server: LiveServer) -> object:
    now = datetime.now(UTC)
    return now.isoformat(sep=" ") if server.db_url.startswith("sqlite://") else now


async def reply_and_notice(server: LiveServer, member_id: int) -> int:
    """A cadre's reply to the worker's request and a project notice, written as the services
    would leave them (the officer screens are tested elsewhere). Returns the notice's id."""
    [(request_id, project_id)] = await server.query(
        "SELECT r.id, m.project_id FROM service_request r JOIN member m ON m.id = r.member_id "
        "WHERE r.member_id = $1", member_id)
    officer_id = await server.count("SELECT MIN(id) FROM officer")
    [(event_id,)] = await server.query(
        "INSERT INTO request_event (request_id, kind, actor_id, by_worker, public, note, detail,"
        " created_at) VALUES ($1, 'reply', $2, FALSE, TRUE, $3, '{}', $4) RETURNING id",
        request_id, officer_id, "宿舍热水器明天修好", when(server))
    await server.query(
        "INSERT INTO inbox_item (member_id, request_id, event_id, reason, created_at)"
        " VALUES ($1, $2, $3, 'reply', $4)", member_id, request_id, event_id, when(server))
    [(notice_id,)] = await server.query(
        "INSERT INTO notice (client_id, author_id, union_id, scope, kind, title, body, pinned,"
        " needs_ack, created_at) VALUES ($1, $2, $3, 'project', 'wages', $4, $5, FALSE, FALSE,"
        " $6) RETURNING id", uid(), officer_id, project_id, "本月工资15日发放",
        "本月工资于15日前发到工资卡，请留意短信。", when(server))
    # With a photo (the pay slip's layout), as publishing with one leaves it.
    photo = jpeg_bytes(320, 200)
    await server.query(
        "INSERT INTO notice_photo (notice_id, data, content_type, size, width, height, sha256,"
        " upload_sha256) VALUES ($1, $2, 'image/jpeg', $3, 320, 200, $4, $5)",
        notice_id, photo, len(photo), *[hashlib.sha256(photo).hexdigest()] * 2)
    return int(notice_id)  # type: ignore[call-overload]


async def cached(page: Page, path: str) -> bool:
    return bool(await page.evaluate(
        "p => caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k).then(c => "
        "c.match(p, {ignoreVary: true}))))).then(r => r.some(Boolean))", path))


async def test_inbox_and_notices_open_offline(server: LiveServer, browser: Browser,
                                              shots: Path) -> None:
    context = await browser.new_context(**PHONE)
    page = await join(context, server.url, server)
    await file_request(page, "宿舍没有热水热水")
    # Filed online, the form moves on to the request's page.
    await page.wait_for_url(re.compile(r"/requests/\d+$"))
    member_id = await server.count(
        "SELECT member_id FROM service_request WHERE description = $1", "宿舍没有热水热水")
    notice_id = await reply_and_notice(server, member_id)

    await page.goto(server.url + "/inbox")
    await expect(page.locator("#inbox")).to_contain_text("本月工资15日发放")
    await expect(page.locator("#inbox")).to_contain_text("诉求 #")
    await page.goto(server.url + "/notices")
    await page.click(f"a[href='/notices/{notice_id}']")
    await expect(page.locator("#main")).to_contain_text("请留意短信")
    assert await server.count(
        "SELECT COUNT(*) FROM notice_read WHERE member_id = $1", member_id) == 1
    photo = f"/notices/{notice_id}/photo"
    for path in ("/inbox", "/notices", f"/notices/{notice_id}", photo):
        for _ in range(40):
            if await cached(page, path):
                break
            await asyncio.sleep(0.25)
        else:
            raise AssertionError(f"the service worker did not keep {path}")

    server.stop()
    for path, text in (("/inbox", "本月工资15日发放"), ("/inbox", "诉求 #"),
                       ("/notices", "本月工资15日发放"),
                       (f"/notices/{notice_id}", "本月工资于15日前发到工资卡")):
        await page.goto(server.url + path)
        await expect(page.locator("#main")).to_contain_text(text)
        await page.screenshot(path=shots / f"offline{path.replace('/', '-')}.png", full_page=True)
    # The notice's photo shows offline too, from the copy kept with the page.
    assert await page.evaluate(
        "() => { const i = document.querySelector('.notice-photo img');"
        " return i && i.complete && i.naturalWidth; }") == 320
    server.start()
    # Read offline from the cache: the server heard of one opening, the one made online.
    assert await server.count(
        "SELECT COUNT(*) FROM notice_read WHERE member_id = $1", member_id) == 1

    # The phone passes to another worker, who joins on it: the first one's inbox and notice
    # leave the cache (the service worker and its caches outlive the cookie).
    await context.clear_cookies()
    other = await join(context, server.url, server)
    for path in ("/inbox", "/notices", f"/notices/{notice_id}", photo):
        assert not await cached(other, path), path
    await context.close()


async def test_notice_with_photo_published_offline_arrives_once(
        server: LiveServer, browser: Browser, tmp_path: Path) -> None:
    """The chair writes a notice with a photo on a site with no signal: the outbox keeps both
    and publishes them once when the server is back."""
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    await officer_login(page, server.url, XBL_CHAIR)
    await page.goto(server.url + "/officer/notices/new")
    photo = tmp_path / "route.jpg"
    photo.write_bytes(jpeg_bytes(400, 300, "teal"))
    sha = hashlib.sha256(photo.read_bytes()).hexdigest()
    title = f"台风避险路线 {uuid.uuid4().hex[:6]}"
    server.stop()
    await page.locator("label.choice", has_text="安全提醒").click()
    await page.fill("#f-title", title)
    await page.fill("#f-body", "按图上的路线到二号楼地下室集合。")
    await page.set_input_files("#f-photo", str(photo))
    await page.click("#notice-form button[type=submit]")
    await expect(page.locator(".saved-note")).to_contain_text("已保存")
    server.start()
    await wait_empty(page, within=40)
    rows = await server.query(
        "SELECT n.id, p.upload_sha256 FROM notice n LEFT JOIN notice_photo p "
        "ON p.notice_id = n.id WHERE n.title = $1", title)
    assert len(rows) == 1 and rows[0][1] == sha, rows
    await context.close()
