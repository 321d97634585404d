"""1,000 members opening the same pay-date notice within seconds, on PostgreSQL.

    .venv/bin/python bench/notice_receipts.py [--total 1000] [--connections 50]

A real `lianxin serve` on a fresh demo database (PostgreSQL); `--total` workers join
西柏梁 through the join form (not timed), a cadre's pay-date notice to the project is written,
then every member opens `/notices/{id}` once, `--connections` at a time (bench/loadgen.py's
raw keep-alive sockets), and each first opening writes its read receipt. The ceiling of the
same run is a bare INSERT loop into a table shaped like notice_read (same UNIQUE pair), on the
same database, from the same number of concurrent asyncpg connections, one autocommit INSERT
per row. Checks that exactly `--total` receipts exist. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.enrol_burst import demo_server, pg_database  # noqa: E402
from bench.loadgen import Connection, join, percentile  # noqa: E402


async def enrol(base: str, token: str, total: int, connections: int) -> list[str]:
    host, port = urlsplit(base).hostname or "127.0.0.1", urlsplit(base).port or 80
    numbers = iter(range(total))
    sessions: list[str] = []

    async def one_connection() -> None:
        conn = Connection(host, port)
        for i in numbers:
            sessions.append((await join(conn, token, i))[0])

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return sessions


async def publish(db_url: str) -> int:
    """The project chair's pay-date notice, written as notices.publish leaves it."""
    conn = await asyncpg.connect(db_url)
    try:
        project, officer = (await conn.fetchrow(
            "SELECT o.union_id, o.id FROM officer o JOIN union_node n ON n.id = o.union_id "
            "WHERE n.code = 'xibailiang' AND o.role = 'chair'")).values()
        return int(await conn.fetchval(
            "INSERT INTO notice (client_id, author_id, union_id, scope, kind, title, body, "
            "pinned, needs_ack, created_at) VALUES ($1, $2, $3, 'project', 'wages', "
            "'本月工资15日发放', '本月工资于15日前发到工资卡。', TRUE, FALSE, now()) RETURNING id",
            uuid.uuid4(), officer, project))
    finally:
        await conn.close()


async def open_all(base: str, sessions: list[str], notice_id: int,
                   connections: int) -> dict[str, object]:
    host, port = urlsplit(base).hostname or "127.0.0.1", urlsplit(base).port or 80
    queue = iter(sessions)
    latencies: list[float] = []
    errors = 0

    async def one_connection() -> None:
        nonlocal errors
        conn = Connection(host, port)
        for cookie in queue:
            started = time.perf_counter()
            status, _, _ = await conn.request("GET", f"/notices/{notice_id}", b"",
                                              {"cookie": cookie})
            latencies.append(time.perf_counter() - started)
            errors += status != 200

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return {"done": len(latencies), "errors": errors, "seconds": round(elapsed, 3),
            "per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 0.5), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1)}


async def bare_inserts(db_url: str, total: int, connections: int) -> dict[str, object]:
    setup = await asyncpg.connect(db_url)
    await setup.execute(
        "CREATE TABLE bench_receipt (id BIGSERIAL PRIMARY KEY, notice_id INT NOT NULL, "
        "member_id INT NOT NULL, created_at TIMESTAMPTZ NOT NULL, UNIQUE (notice_id, member_id))")
    pool = [await asyncpg.connect(db_url) for _ in range(connections)]
    rows = iter(range(total))

    async def one(conn: asyncpg.Connection) -> None:
        for member in rows:
            await conn.execute("INSERT INTO bench_receipt (notice_id, member_id, created_at) "
                               "VALUES ($1, $2, now())", 1, member)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in pool))
        elapsed = time.perf_counter() - started
        written = int(await setup.fetchval("SELECT COUNT(*) FROM bench_receipt"))
    finally:
        for c in pool:
            await c.close()
        await setup.execute("DROP TABLE bench_receipt")
        await setup.close()
    return {"done": written, "seconds": round(elapsed, 3), "per_s": round(written / elapsed, 1)}


async def receipts(db_url: str, notice_id: int) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM notice_read WHERE notice_id = $1", notice_id))
    finally:
        await conn.close()


def run(total: int, connections: int) -> dict[str, object]:
    db_url, drop = asyncio.run(pg_database("bench_receipts"))
    try:
        with tempfile.TemporaryDirectory() as tmp, demo_server(db_url, Path(tmp), 1) as (
                base, token):
            sessions = asyncio.run(enrol(base, token, total, connections))
            notice_id = asyncio.run(publish(db_url))
            opened = asyncio.run(open_all(base, sessions, notice_id, connections))
        written = asyncio.run(receipts(db_url, notice_id))
        ceiling = asyncio.run(bare_inserts(db_url, total, connections))
    finally:
        asyncio.run(drop())  # type: ignore[operator]
    return {"members": len(sessions), "opened": opened, "receipts": written,
            "lost": len(sessions) - written, "bare_insert_ceiling": ceiling,
            "x_ceiling": round(float(opened["per_s"]) / float(ceiling["per_s"]), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(run(args.total, args.connections), ensure_ascii=False))


if __name__ == "__main__":
    main()
