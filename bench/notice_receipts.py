"""1,000 members opening the same pay-date notice within seconds, on PostgreSQL.

    .venv/bin/python bench/notice_receipts.py [--total 1000] [--connections 50]
        [--profile out.txt]

A real `lianxin serve` on a fresh demo database (PostgreSQL); `--total` workers join
西柏梁 through the join form (not timed), a cadre's pay-date notice to the project is written,
then every member opens `/notices/{id}` once, `--connections` at a time (bench/loadgen.py's
raw keep-alive sockets), and each first opening writes its read receipt. The server's CPU
time over that phase (user + system, from /proc) is divided by the openings.

Then the service level, in this process on the same database: a second pay-date notice, and
each member's opening through `server.services.notices.open_for_member` (the notice read
with the member's receipt and acknowledgement flags, then the receipt INSERT … ON CONFLICT
DO NOTHING), `--connections` tasks at a time on a pool of as many connections; and the
receipt statement alone (`notices.record_read`) for a third notice.

The ceiling is a bare INSERT loop into a table shaped like notice_read (same UNIQUE pair), on
the same database, from `--connections` concurrent asyncpg connections, one autocommit INSERT
per row; it runs before and after the service phases and the higher rate is used. Checks that
exactly one receipt per member exists for each notice. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
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


async def publish(db_url: str, title: str = "本月工资15日发放") -> int:
    """The project chair's pay-date notice, written as notices.publish leaves it."""
    conn = await asyncpg.connect(db_url)
    try:
        project, officer = (await conn.fetchrow(
            "SELECT o.union_id, o.id FROM officer o JOIN union_node n ON n.id = o.union_id "
            "WHERE n.code = 'xibailiang' AND o.role = 'chair'")).values()
        return int(await conn.fetchval(
            "INSERT INTO notice (client_id, author_id, union_id, scope, kind, title, body, "
            "pinned, needs_ack, created_at) VALUES ($1, $2, $3, 'project', 'wages', "
            "$4, '本月工资于15日前发到工资卡。', TRUE, FALSE, now()) RETURNING id",
            uuid.uuid4(), officer, project, title))
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


async def service_level(db_url: str, connections: int) -> dict[str, object]:
    """Every member opens a new notice through the service function, then the receipt
    statement alone is run for every member on a third notice."""
    from tortoise import Tortoise

    from server.db import tortoise_config
    from server.models import Member, MemberStatus
    from server.services import notices

    first = await publish(db_url, "下月工资15日发放")
    second = await publish(db_url, "工资条已发到班组")
    await Tortoise.init(config=tortoise_config(f"{db_url}?minsize={connections}"
                                               f"&maxsize={connections}"))
    try:
        members = await Member.filter(status=MemberStatus.ACTIVE).select_related(
            "project", "team", "liaison")
        # Every pooled connection opened before the clock starts, as the bare loop's are.
        await asyncio.gather(*(Member.filter(id=m.id).exists() for m in members[:connections]))

        async def timed(work: object, notice_id: int) -> dict[str, object]:
            queue = iter(members)

            async def one() -> None:
                for member in queue:
                    await work(member, notice_id)  # type: ignore[operator]

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(connections)))
            elapsed = time.perf_counter() - started
            return {"done": len(members), "seconds": round(elapsed, 3),
                    "per_s": round(len(members) / elapsed, 1)}

        async def open_one(member: Member, notice_id: int) -> None:
            assert await notices.open_for_member(member, notice_id) is not None

        async def receipt_only(member: Member, notice_id: int) -> None:
            await notices.record_read(notice_id, member.id)

        opened = await timed(open_one, first)
        recorded = await timed(receipt_only, second)
    finally:
        await Tortoise.close_connections()
    opened["receipts"] = await receipts(db_url, first)
    recorded["receipts"] = await receipts(db_url, second)
    return {"open_for_member": opened, "record_read": recorded}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def receipts(db_url: str, notice_id: int) -> int:
    conn = await asyncpg.connect(db_url)
    try:
        return int(await conn.fetchval(
            "SELECT COUNT(*) FROM notice_read WHERE notice_id = $1", notice_id))
    finally:
        await conn.close()


def server_pid(base: str) -> int:
    """The `lianxin serve` process listening on the base URL's port."""
    port = str(urlsplit(base).port)
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            args = cmdline.read_bytes().split(b"\0")
            if b"serve" in args and port.encode() in args:
                return int(cmdline.parent.name)
    raise RuntimeError("server process not found")


@contextlib.contextmanager
def profiled(base: str, out: str | None) -> Iterator[None]:
    """py-spy sampling the server while the block runs (raw collapsed stacks in `out`)."""
    if not out:
        yield
        return
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                            str(server_pid(base)), "--format", "raw", "--rate", "500",
                            "--idle", "--output", out, "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the load starts
    try:
        yield
    finally:
        spy.send_signal(2)
        spy.wait()


def run(total: int, connections: int, profile: str | None = None) -> dict[str, object]:
    db_url, drop = asyncio.run(pg_database("bench_receipts"))
    try:
        with tempfile.TemporaryDirectory() as tmp, demo_server(db_url, Path(tmp), 1) as (
                base, token):
            sessions = asyncio.run(enrol(base, token, total, connections))
            notice_id = asyncio.run(publish(db_url))
            pid = server_pid(base)
            cpu = cpu_seconds(pid)
            with profiled(base, profile):
                opened = asyncio.run(open_all(base, sessions, notice_id, connections))
            opened["server_cpu_ms_each"] = round(
                (cpu_seconds(pid) - cpu) * 1000 / max(1, int(opened["done"])), 2)
        written = asyncio.run(receipts(db_url, notice_id))
        before = asyncio.run(bare_inserts(db_url, total, connections))
        service = asyncio.run(service_level(db_url, connections))
        after = asyncio.run(bare_inserts(db_url, total, connections))
    finally:
        asyncio.run(drop())  # type: ignore[operator]
    ceiling = max(before, after, key=lambda c: float(c["per_s"]))  # type: ignore[arg-type]
    rate = float(ceiling["per_s"])  # type: ignore[arg-type]
    return {"members": len(sessions), "opened": opened, "receipts": written,
            "lost": len(sessions) - written,
            "bare_insert_before_after_per_s": [before["per_s"], after["per_s"]],
            "x_ceiling": round(float(opened["per_s"]) / rate, 3),  # type: ignore[arg-type]
            "service": service,
            "service_x_ceiling": {
                name: round(float(r["per_s"]) / rate, 2)  # type: ignore[index]
                for name, r in service.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--profile", help="py-spy's raw stacks of the server while opening")
    args = parser.parse_args()
    print(json.dumps(run(args.total, args.connections, args.profile), ensure_ascii=False))


if __name__ == "__main__":
    main()
