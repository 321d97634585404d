"""Test fixtures: a real database (SQLite file or a throw-away PostgreSQL database), the app
with its lifespan, and HTTP clients with their own cookie jars.

LIANXIN_TEST_DB selects the backend: "sqlite" (default) or "postgres"; LIANXIN_TEST_PG_URL
points at the PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import random
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.db import apply_migrations
from server.services.demo import DEMO_PASSWORD, load_demo
from server.services.invites import get_or_create_invite
from server.settings import load

PG_ADMIN_URL = os.environ.get("LIANXIN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
BACKEND = os.environ.get("LIANXIN_TEST_DB", "sqlite")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def pytest_report_header(config: pytest.Config) -> str:
    return f"lianxin test database backend: {BACKEND}"


async def make_database(tmp_dir: Path, name: str) -> tuple[str, Any]:
    """A fresh database URL and a function that drops it afterwards."""
    if BACKEND == "postgres":
        db_name = f"lx_{name}_{os.getpid()}_{secrets.token_hex(3)}"
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'CREATE DATABASE "{db_name}"')
        finally:
            await admin.close()
        base = PG_ADMIN_URL.rsplit("/", 1)[0]

        async def drop() -> None:
            conn = await asyncpg.connect(PG_ADMIN_URL)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            finally:
                await conn.close()

        return f"{base}/{db_name}", drop

    async def nothing() -> None:
        return None

    return f"sqlite://{tmp_dir / (name + '.sqlite3')}", nothing


@pytest.fixture(scope="session")
def tmp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lianxin")


@pytest.fixture(scope="session")
async def db_url(tmp_root: Path) -> AsyncIterator[str]:
    url, drop = await make_database(tmp_root, "main")
    await apply_migrations(url)
    yield url
    await drop()


def settings_for(db_url: str, tmp_root: Path, **extra: str) -> Any:
    env = {
        "LIANXIN_DB_URL": db_url,
        "LIANXIN_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop",
        "LIANXIN_BASE_URL": "http://testserver",
        "LIANXIN_SECRET_FILE": str(tmp_root / "secret"),
        # Tests run the deadline job themselves, with the time they choose.
        "LIANXIN_DEADLINE_JOB_SECONDS": "0",
        # Tests drain the delivery queue themselves, against their own push endpoint.
        "LIANXIN_DELIVERY_JOB_SECONDS": "0",
    }
    env.update(extra)
    return load(env)




@pytest.fixture(scope="session")
async def app(db_url: str, tmp_root: Path) -> AsyncIterator[Any]:
    application = create_app(settings_for(db_url, tmp_root))
    async with LifespanManager(application):
        await load_demo()
        yield application


# Hypothesis reseeds the global `random` for each example: use a generator of our own.
_rng = random.Random(secrets.randbits(64))


def random_ip() -> str:
    return f"10.{_rng.randint(0, 255)}.{_rng.randint(0, 255)}.{_rng.randint(1, 254)}"


def new_client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(random_ip(), 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             headers={"Accept-Language": "zh-CN"})


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app) as c:
        yield c


@pytest.fixture
def make_client(app: Any) -> Iterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        c = new_client(app)
        clients.append(c)
        return c

    yield factory


_used_phones: set[str] = set()


def fresh_phone() -> str:
    while True:
        phone = "13" + str(_rng.randint(5, 9)) + f"{_rng.randint(0, 99_999_999):08d}"
        if phone not in _used_phones:
            _used_phones.add(phone)
            return phone


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def login(client: httpx.AsyncClient, phone: str, password: str = DEMO_PASSWORD) -> None:
    page = await client.get("/officer/login")
    response = await client.post("/officer/login", data={
        "phone": phone, "password": password, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 303, response.text[:500]


async def join_path(project: str = "xibailiang", team: str | None = None) -> str:
    invite = await get_or_create_invite(project, team)
    return f"/join/{invite.token}"


def enrolment_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": "王小明", "phone": fresh_phone(), "trade": "钢筋工", "team": "",
        "employer": "陕西某劳务公司", "hometown": "陕西商洛", "id_number": "",
        "consent": "on", "client_id": str(uuid.uuid4()),
    }
    form.update(overrides)
    return form


async def enrol(client: httpx.AsyncClient, project: str = "xibailiang",
                **overrides: str) -> tuple[httpx.Response, dict[str, str]]:
    path = await join_path(project)
    page = await client.get(path)
    form = enrolment_form(**overrides)
    form["csrf_token"] = csrf_of(page.text)
    return await client.post(path, data=form), form


# Officer phones from the demo (server.services.demo.OFFICERS).
ADMIN, UPPER = "13900000001", "13900000002"
XBL_CHAIR, XBL_CADRE, XBL_CADRE2, XBL_MANAGER = (
    "13900000010", "13900000011", "13900000012", "13900000019")
CXG_CHAIR, CXG_CADRE, CXG_MANAGER = "13900000020", "13900000021", "13900000029"
