"""The read replica, with a real second database standing in for it: a copy of the primary
made different on purpose, so every read shows which of the two it came from.

The pages that opted in (figures, digest, member search) read the replica entirely, their
hand-written SQL included; a worker's own pages, every write and every read inside a
transaction go to the primary.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from openpyxl import load_workbook
from tortoise.connection import get_connections

from server.app import create_app
from server.db import (
    PRIMARY,
    REPLICA,
    ReplicaRouter,
    fetch,
    numbered_placeholders,
    read_connection,
    reads_from_replica,
    skip_reset_query,
    tortoise_config,
    transaction,
)
from server.models import Category, Member, ServiceRequest, Status
from tests.conftest import (
    XBL_CHAIR,
    clone_database,
    csrf_of,
    forget_process_caches,
    module_name,
    settings_for,
)
from tests.factories import make_member, make_request, member_client, officer_client

SHARED = ("两边都有的诉求一", "两边都有的诉求二", "两边都有的诉求三")
ONLY_REPLICA = ("只在副本里的诉求甲", "只在副本里的诉求乙")
ONLY_PRIMARY = "只在主库里的诉求"
PRIMARY_ONLY_MEMBER = "主库新工友"


@dataclass
class World:
    member: Member
    shared: list[int]  # request ids, in the order of SHARED


def test_config_adds_replica_only_when_asked() -> None:
    plain = tortoise_config("postgres://a@db/x")
    assert set(plain["connections"]) == {"default"} and "routers" not in plain
    both = tortoise_config("postgres://a@db/x", "postgres://a@replica/x")
    assert both["connections"][REPLICA]["credentials"]["host"] == "replica"
    # Both pools skip asyncpg's reset query (server.db.skip_reset_query says why).
    assert {c["credentials"]["reset"] for c in both["connections"].values()} == {
        skip_reset_query}
    assert tortoise_config("sqlite://x.db")["connections"]["default"].startswith("sqlite://")
    assert both["routers"] == ["server.db.ReplicaRouter"]


def test_question_marks_in_strings_are_not_placeholders() -> None:
    sql = "SELECT ? AS a, 'is it? it''s ?' AS b, \"odd?name\" -- why?\nFROM t WHERE x = ?"
    assert numbered_placeholders(sql) == (
        "SELECT $1 AS a, 'is it? it''s ?' AS b, \"odd?name\" -- why?\nFROM t WHERE x = $2")
    assert numbered_placeholders("/* ? */ SELECT ?") == "/* ? */ SELECT $1"


async def _copy_request(conn: Any, source_id: int, description: str, category: str) -> None:
    """One more row in the database behind `conn`: a copy of another with its own text."""
    fields = ServiceRequest._meta.fields_map
    overrides = {"client_id": fields["client_id"].to_db_value(uuid.uuid4(), None),
                 "description": description, "category": category}
    columns = [c for c in ServiceRequest._meta.fields_db_projection.values() if c != "id"]
    select = ", ".join("?" if c in overrides else c for c in columns)
    params = [overrides[c] for c in columns if c in overrides]
    await fetch(f"INSERT INTO service_request ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {select} FROM service_request WHERE id = ?",
                *params, source_id, conn=conn)


@pytest.fixture(scope="module")
async def replica_world(template_url: str, tmp_path_factory: pytest.TempPathFactory,
                        tmp_root: Path, request: pytest.FixtureRequest
                        ) -> AsyncIterator[tuple[Any, World]]:
    folder = tmp_path_factory.mktemp("replica")
    name = module_name(request)
    primary_url, drop_primary = await clone_database(template_url, folder, name + "_p")
    # What both databases hold: made on the primary alone, then copied.
    forget_process_caches()
    setup_app = create_app(settings_for(primary_url, tmp_root))
    async with LifespanManager(setup_app):
        member = await make_member(setup_app)
        shared = [(await make_request(member, text=text)).id for text in SHARED]
    replica_url, drop_replica = await clone_database(primary_url, folder, name + "_r")
    forget_process_caches()
    application = create_app(settings_for(primary_url, tmp_root,
                                          LIANXIN_DB_READ_URL=replica_url))
    try:
        async with LifespanManager(application):
            replica = get_connections().get(REPLICA)
            # The replica: two requests more, and the second shared one resolved, the third
            # declined (the primary has them submitted).
            for text in ONLY_REPLICA:
                await _copy_request(replica, shared[0], text, Category.TRAINING.value)
            for request_id, status in ((shared[1], Status.RESOLVED), (shared[2], Status.DECLINED)):
                await fetch("UPDATE service_request SET status = ? WHERE id = ?", status.value,
                            request_id, conn=replica)
            # The primary: one request and one member more, written the ordinary way.
            await make_request(member, text=ONLY_PRIMARY, category=Category.SAFETY)
            await make_member(application, name=PRIMARY_ONLY_MEMBER)
            yield application, World(member, shared)
    finally:
        forget_process_caches()
        await drop_primary()
        await drop_replica()


@pytest.fixture(scope="module")
def app(replica_world: tuple[Any, World]) -> Any:
    return replica_world[0]


@pytest.fixture(scope="module")
def world(replica_world: tuple[Any, World]) -> World:
    return replica_world[1]


async def _count(text: str, conn: Any = None) -> int:
    rows = await fetch("SELECT COUNT(*) AS n FROM service_request WHERE description = ?", text,
                       conn=conn)
    return int(rows[0][0])


async def test_router_and_fetch_pick_the_same_connection(app: Any) -> None:
    router = ReplicaRouter()
    replica_only = ONLY_REPLICA[0]
    assert router.db_for_read(ServiceRequest) is None
    assert await _count(replica_only) == 0
    assert await ServiceRequest.filter(description=replica_only).count() == 0
    with reads_from_replica():
        assert router.db_for_read(ServiceRequest) == REPLICA
        assert router.db_for_write(Member) is None
        assert read_connection() is get_connections().get(REPLICA)
        assert await _count(replica_only) == 1
        assert await ServiceRequest.filter(description=replica_only).count() == 1
        # Inside a transaction every read is the transaction's, replica or not.
        async with transaction() as conn:
            assert router.db_for_read(ServiceRequest) is None
            assert read_connection() is conn
            assert await _count(replica_only) == 0
            assert await ServiceRequest.filter(description=replica_only).count() == 0
    assert router.db_for_read(ServiceRequest) is None


async def test_fetch_writes_go_to_the_primary(app: Any, world: World) -> None:
    marker = f"写入测试 {uuid.uuid4()}?"  # a literal ? travels as a value, too
    with reads_from_replica():
        rows = await fetch("UPDATE service_request SET resolution = ? WHERE id = ? "
                           "RETURNING resolution", marker, world.shared[0])
    assert rows == [(marker,)]
    on_primary = await fetch("SELECT resolution FROM service_request WHERE id = ?",
                             world.shared[0], conn=get_connections().get(PRIMARY))
    on_replica = await fetch("SELECT resolution FROM service_request WHERE id = ?",
                             world.shared[0], conn=get_connections().get(REPLICA))
    assert on_primary == [(marker,)] and on_replica != [(marker,)]


async def test_literal_question_mark_survives(app: Any) -> None:
    rows = await fetch("SELECT ? AS a, 'is it? it''s ?' AS b", "yes?")
    assert rows == [("yes?", "is it? it's ?")]


async def test_figures_and_digest_read_the_replica_only(app: Any) -> None:
    replica_total = len(SHARED) + len(ONLY_REPLICA)
    async with officer_client(app, XBL_CHAIR) as c:
        figures_page = await c.get("/officer/figures")
        assert figures_page.status_code == 200
        assert re.search(r'id="fig-total">(\d+)<', figures_page.text).group(1) == str(  # type: ignore[union-attr]
            replica_total)
        digest = await c.get("/officer/digest")
        assert digest.status_code == 200
        # The summary (hand-written SQL) and the rows (ORM) come from the same database.
        assert f"诉求总数 {replica_total} ·" in digest.text
        assert all(text in digest.text for text in SHARED + ONLY_REPLICA)
        assert ONLY_PRIMARY not in digest.text
        assert "已办结" in digest.text and "不予受理" in digest.text
        xlsx = await c.get("/officer/digest.xlsx")
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.content))
        summary = {row[0]: row[1] for row in book.worksheets[0].iter_rows(values_only=True)}
        assert summary["诉求总数"] == replica_total
        described = {row[9] for row in book.worksheets[1].iter_rows(min_row=2, values_only=True)}
        assert described == set(SHARED + ONLY_REPLICA)
        members = await c.get("/officer/members")
        assert members.status_code == 200 and "李建国" in members.text
        assert PRIMARY_ONLY_MEMBER not in members.text


async def test_worker_pages_and_filing_use_the_primary(app: Any, world: World) -> None:
    async with member_client(app, world.member) as c:
        listing = await c.get("/requests")
        assert ONLY_PRIMARY in listing.text
        assert not any(text in listing.text for text in ONLY_REPLICA)
        detail = await c.get(f"/requests/{world.shared[1]}")
        assert "待受理" in detail.text and "已办结" not in detail.text
        page = await c.get("/requests/new")
        client_id = str(uuid.uuid4())
        filed = await c.post("/requests/new", data={
            "csrf_token": csrf_of(page.text), "client_id": client_id, "category": "living",
            "description": "主库收到的新诉求"})
        assert filed.status_code == 303
    assert await _count("主库收到的新诉求", get_connections().get(PRIMARY)) == 1
    assert await _count("主库收到的新诉求", get_connections().get(REPLICA)) == 0


async def test_officer_action_reads_the_primary(app: Any, world: World) -> None:
    # Declined on the replica, submitted on the primary: acknowledging works only if the
    # action reads the primary.
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{world.shared[2]}")
        acted = await c.post(f"/officer/requests/{world.shared[2]}/acknowledge",
                             data={"csrf_token": csrf_of(page.text)})
        assert acted.status_code == 303, acted.text[:300]
    status = await fetch("SELECT status FROM service_request WHERE id = ?", world.shared[2])
    assert status == [(Status.ACKNOWLEDGED.value,)]
    status = await fetch("SELECT status FROM service_request WHERE id = ?", world.shared[2],
                         conn=get_connections().get(REPLICA))
    assert status == [(Status.DECLINED.value,)]
