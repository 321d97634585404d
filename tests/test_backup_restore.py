"""Backups restore: a copy made while the app runs brings back the same members and requests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import BACKEND, PG_ADMIN_URL
from tests.factories import make_member, make_request

LIANXIN = str(Path(sys.executable).parent / "lianxin")


def cli(db_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_SECRET_FILE": str(cwd / "secret")}
    return subprocess.run([LIANXIN, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=True)


def tool(*command: str) -> None:
    """A short blocking tool run; the suite's event loop has nothing else to do meanwhile."""
    subprocess.run(list(command), check=True, timeout=120)


async def test_sqlite_backup_restores(app: Any, tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    url = f"sqlite://{db}"
    cli(url, "demo", cwd=tmp_path)
    copy = tmp_path / "backup.sqlite3"
    cli(url, "backup", "--out", str(copy), cwd=tmp_path)
    restored = tmp_path / "restored.sqlite3"
    shutil.copy(copy, restored)
    cli(f"sqlite://{restored}", "migrate", cwd=tmp_path)
    out = tmp_path / "officers.csv"
    cli(f"sqlite://{restored}", "export", "members", "--out", str(out), cwd=tmp_path)
    import sqlite3

    with sqlite3.connect(restored) as conn:
        assert conn.execute("SELECT COUNT(*) FROM officer").fetchone()[0] == 11
        assert conn.execute("SELECT COUNT(*) FROM union_node").fetchone()[0] == 6


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL pass only")
async def test_postgres_dump_restores(app: Any, db_url: str, tmp_path: Path) -> None:
    missing = [name for name in ("pg_dump", "pg_restore") if not shutil.which(name)]
    if missing and os.environ.get("LIANXIN_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{' and '.join(missing)} not found, and LIANXIN_REQUIRE_POSTGRES=1")
    if missing:
        pytest.skip(f"{' and '.join(missing)} not found")
    member = await make_member(app)
    await make_request(member, text="恢复测试诉求")
    dump = tmp_path / "lianxin.dump"
    tool("pg_dump", "-Fc", "-d", db_url, "-f", str(dump))
    target = db_url.rsplit("/", 1)[0] + "/" + db_url.rsplit("/", 1)[1] + "_restored"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{target.rsplit("/", 1)[1]}"')
    finally:
        await admin.close()
    try:
        tool("pg_restore", "--no-owner", "-d", target, str(dump))
        cli(target, "migrate", cwd=tmp_path)  # a no-op on a current copy
        conn = await asyncpg.connect(target)
        try:
            assert await conn.fetchval(
                "SELECT COUNT(*) FROM service_request WHERE description = $1", "恢复测试诉求") == 1
            assert await conn.fetchval("SELECT COUNT(*) FROM member WHERE id = $1",
                                       member.id) == 1
        finally:
            await conn.close()
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(
                f'DROP DATABASE IF EXISTS "{target.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await admin.close()
