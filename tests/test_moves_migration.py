"""Migration 0014 on a database from before it: a phone that had joined two projects as two
members (allowed until then) is left in the newest project only, the older stretch kept as
a `member_move`, and from then on the database refuses a second live row for a phone."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import BACKEND, make_database, sqlite_path

ROOT = Path(__file__).resolve().parent.parent
TORTOISE = str(Path(sys.executable).parent / "tortoise")

NODES = ("INSERT INTO union_node (id, code, name, kind, path, auto_approve, member_seq, "
         "created_at) VALUES (901, 'mig-a', 'A', 'project', '/901/', {t}, 0, "
         "'2024-01-01 00:00:00+00:00'), (902, 'mig-b', 'B', 'project', '/902/', {t}, 0, "
         "'2024-01-01 00:00:00+00:00')")
MEMBER = ("INSERT INTO member (id, client_id, project_id, name, phone, trade, employer, "
          "hometown, id_number_masked, status, reject_reason, session_epoch, enrol_proof, "
          "created_at, joined_at, sms_opt_in) VALUES ({id}, '{id:08d}-1111-4111-8111-"
          "111111111111', {project}, 'x', '{phone}', 't', '', '', '', '{status}', '', 0, '', "
          "'2024-0{id}-01 00:00:00+00:00', {joined}, {f})")


def migrate(url: str, *target: str) -> None:
    result = subprocess.run([TORTOISE, "migrate", *target], cwd=ROOT, capture_output=True,
                            text=True, timeout=180, env={**os.environ, "LIANXIN_DB_URL": url})
    assert result.returncode == 0, result.stderr[-2000:]


async def run(url: str, *statements: str) -> list[tuple[object, ...]]:
    if BACKEND == "postgres":
        conn = await asyncpg.connect(url)
        try:
            rows: list[tuple[object, ...]] = []
            for sql in statements:
                rows = [tuple(r) for r in await conn.fetch(sql)]
            return rows
        finally:
            await conn.close()
    with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn, conn:
        for sql in statements:
            rows = list(conn.execute(sql).fetchall())
        return rows


@pytest.mark.timeout(300)
async def test_older_duplicates_are_closed_and_the_index_holds(tmp_path: Path) -> None:
    url, drop = await make_database(tmp_path, "moves_migration")
    try:
        migrate(url, "models", "0010_sms")
        t, f = ("TRUE", "FALSE") if BACKEND == "postgres" else ("1", "0")
        joined = "'2024-01-01 00:00:00+00:00'"
        await run(url, NODES.format(t=t),
                  MEMBER.format(id=1, project=901, phone="13800000001", status="active",
                                joined=joined, f=f),
                  MEMBER.format(id=2, project=902, phone="13800000001", status="active",
                                joined=joined, f=f),
                  MEMBER.format(id=3, project=901, phone="13800000002", status="active",
                                joined=joined, f=f))
        migrate(url)
        rows = await run(url, "SELECT id, status FROM member ORDER BY id")
        assert rows == [(1, "left"), (2, "active"), (3, "active")]
        moves = await run(url, "SELECT member_id, kind, from_project_id, from_status, "
                               "started_at IS NOT NULL FROM member_move")
        assert [tuple(r) for r in moves] == [(1, "left", 901, "active", True)]
        with pytest.raises((sqlite3.IntegrityError, asyncpg.UniqueViolationError)):
            await run(url, "UPDATE member SET status = 'pending' WHERE id = 1")
    finally:
        await drop()
