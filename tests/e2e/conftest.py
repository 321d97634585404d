"""A real `lianxin serve` process (that tests can stop and restart) and Debian's Chromium.

Each module gets its own server on its own database (a copy of the suite's template, demo
included), so what one module's tests file is never another module's business."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import ARTIFACTS, clone_database, fresh_phone, module_name, sqlite_path

CHROMIUM = os.environ.get("LIANXIN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic",
                 "--no-first-run"]
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2,
         "is_mobile": True, "has_touch": True, "locale": "zh-CN"}
LIANXIN = str(Path(sys.executable).parent / "lianxin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_url = db_url
        self.workdir = workdir
        self.env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_BASE_URL": self.url,
                    "LIANXIN_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghijklmnopq",
                    # The offline tests queue up to fifty requests for one worker at once.
                    "LIANXIN_REQUESTS_PER_HOUR": "1000"}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def cli(self, *args: str) -> str:
        result = subprocess.run([LIANXIN, *args], env=self.env, cwd=self.workdir,
                                capture_output=True, text=True, check=True, timeout=120)
        return result.stdout

    def start(self, **extra_env: str) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [LIANXIN, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning"], env={**self.env, **extra_env}, cwd=self.workdir,
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("server did not start:\n" + self.log.read_text(errors="replace"))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        """Read the server's database directly (placeholders: $1, $2 …)."""
        return await query_db(self.db_url, sql, *args)

    async def count(self, sql: str, *args: object) -> int:
        rows = await self.query(sql, *args)
        return int(rows[0][0])  # type: ignore[call-overload]


async def query_db(db_url: str, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Run one statement on a database directly (placeholders: $1, $2 …) and commit it."""
    if db_url.startswith("sqlite://"):
        import re
        import sqlite3

        with contextlib.closing(sqlite3.connect(sqlite_path(db_url))) as conn, conn:
            return list(conn.execute(re.sub(r"\$\d+", "?", sql), args).fetchall())
    import asyncpg

    conn = await asyncpg.connect(db_url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def live_server(template_url: str, tmp_path_factory: pytest.TempPathFactory,
                      request: pytest.FixtureRequest) -> AsyncIterator[LiveServer]:
    name = module_name(request)
    workdir = tmp_path_factory.mktemp("live_" + name)
    db_url, drop = await clone_database(template_url, workdir, "live_" + name)
    server = LiveServer(db_url, workdir)
    server.start()
    yield server
    server.stop()
    await drop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


async def officer_login(page: Page, base: str, phone: str) -> None:
    """Sign an officer in through the login form, as a person would."""
    from server.services.demo import DEMO_PASSWORD

    await page.goto(base + "/officer/login")
    await page.fill("#f-phone", phone)
    await page.fill("#f-password", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/officer")


async def join_in_browser(page: Page, join_url: str, name: str, *, phone: str | None = None,
                          trade: str = "钢筋工", team: str | None = None) -> str:
    """Fill in the join form at `join_url` as a worker would and send it; the phone used.
    What the page says next is the caller's to check."""
    phone = phone or fresh_phone()
    await page.goto(join_url)
    await page.fill("#f-name", name)
    await page.fill("#f-phone", phone)
    await page.select_option("#f-trade", trade)
    if team is not None:
        await page.select_option("#f-team", label=team)
    await page.check("input[name=consent]")
    await page.click("button[type=submit]")
    return phone


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def officer_act(page: Page, action: str, text: str = "") -> None:
    """Take `action` from the officer's request panel: choose it, write, press the button
    (the one text box with a choice of action; 受理 is its own button)."""
    form = page.locator("#action-form")
    choice = form.locator(f"input[name=action][value={action}]")
    if await form.locator(".action-choice").is_visible():
        await form.locator(f"label.action-{action}").click()
    # With one action only there is no question asked: it is the one chosen.
    assert await choice.is_checked()
    if text:
        await page.fill("#f-text", text)
    await form.locator("button[type=submit]").click()
