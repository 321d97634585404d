"""Mass enrolment day: N distinct workers join through the real /join/{token} flow (GET the
form, POST it with its session cookie and CSRF token) at C concurrent connections, next to the
bare stack's ceiling measured in the same run.

    .venv/bin/python bench/enrol_burst.py [--total 1000] [--connections 50] [--postgres]

The load comes from bench/loadgen.py in a second process on loopback. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PY = sys.executable
LIANXIN = str(Path(PY).parent / "lianxin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


# The load comes from one address and a few workers: lift the limits meant for people.
UNLIMITED = {"LIANXIN_JOIN_MAX_PER_IP": "100000000", "LIANXIN_REQUESTS_PER_HOUR": "100000000",
             "LIANXIN_LOGIN_MAX_FAILURES_PER_IP": "100000000"}


def load(mode: str, url: str, total: int, connections: int, token: str = "",
         batch: int = 50) -> dict[str, object]:
    out = subprocess.run([PY, str(ROOT / "bench" / "loadgen.py"), mode, url, "--total",
                          str(total), "--connections", str(connections), f"--token={token}",
                          f"--batch={batch}"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def ceiling(workdir: Path, total: int, connections: int) -> tuple[dict[str, object], ...]:
    port = free_port()
    env = {**os.environ, "CEILING_DB": str(workdir / "ceiling.sqlite3")}
    server = subprocess.Popen([PY, "-m", "uvicorn", "bench.ceiling:app", "--port", str(port),
                               "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    try:
        wait_up(f"http://127.0.0.1:{port}/")
        constant = load("constant", f"http://127.0.0.1:{port}", total * 3, connections)
        insert = load("insert", f"http://127.0.0.1:{port}", total * 3, connections)
        return constant, insert
    finally:
        server.terminate()
        server.wait()


async def pg_database(name: str) -> tuple[str, object]:
    os.environ["LIANXIN_TEST_DB"] = "postgres"
    from tests.conftest import make_database

    return await make_database(Path(tempfile.gettempdir()), name)


@contextlib.contextmanager
def demo_server(db_url: str, workdir: Path, workers: int) -> Iterator[tuple[str, str]]:
    """`lianxin serve` on a fresh demo database; yields its URL and the 西柏梁 invite token."""
    port = free_port()
    env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_BASE_URL": f"http://127.0.0.1:{port}",
           "LIANXIN_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
           "LIANXIN_DEADLINE_JOB_SECONDS": "0", **UNLIMITED}
    subprocess.run([LIANXIN, "demo"], env=env, cwd=workdir, check=True, capture_output=True)
    url = subprocess.run([LIANXIN, "invite", "xibailiang"], env=env, cwd=workdir, check=True,
                         capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([LIANXIN, "serve", "--port", str(port), "--workers", str(workers),
                               "--log-level", "warning"], env=env, cwd=workdir)
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        yield f"http://127.0.0.1:{port}", url.rsplit("/", 1)[1]
    finally:
        server.terminate()
        server.wait()


def lianxin(db_url: str, workdir: Path, total: int, connections: int,
            workers: int) -> dict[str, object]:
    with demo_server(db_url, workdir, workers) as (base, token):
        # The demo brings members of its own (its wage cases' filers): count only the new.
        before = count_rows(db_url, "member")
        result = load("enrol", base, total, connections, token)
    result["members"] = count_rows(db_url, "member") - before
    return result


def count_rows(db_url: str, table: str) -> int:
    """Rows in one of Lianxin's tables, on SQLite or PostgreSQL (table names are ours)."""
    sql = f"SELECT COUNT(*) FROM {table}"  # noqa: S608
    if db_url.startswith("sqlite://"):
        import sqlite3

        with sqlite3.connect(db_url.removeprefix("sqlite://")) as conn:
            return int(conn.execute(sql).fetchone()[0])

    async def pg() -> int:
        import asyncpg

        conn = await asyncpg.connect(db_url)
        try:
            return int(await conn.fetchval(sql))
        finally:
            await conn.close()

    return asyncio.run(pg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL, 1 and 2 workers")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-burst-"))
    constant, insert = ceiling(workdir, args.total, args.connections)
    runs = [("SQLite, 1 process", lianxin(f"sqlite://{workdir / 'app.sqlite3'}", workdir,
                                          args.total, args.connections, 1))]
    if args.postgres:
        # Two processes on one SQLite file take turns at its write lock (WAL, busy_timeout).
        runs.append(("SQLite, 2 processes", lianxin(f"sqlite://{workdir / 'app2.sqlite3'}",
                                                    workdir, args.total, args.connections, 2)))
    if args.postgres:
        for workers in (1, 2):
            db_url, drop = asyncio.run(pg_database(f"burst{workers}"))
            try:
                runs.append((f"PostgreSQL, {workers} process{'es' if workers > 1 else ''}",
                             lianxin(db_url, workdir, args.total, args.connections, workers)))
            finally:
                asyncio.run(drop())  # type: ignore[arg-type]
    ceiling_rate = float(insert["per_s"])  # type: ignore[arg-type]
    print("| run | done | errors | per s | × INSERT ceiling | p50 ms | p99 ms | members |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| ceiling: constant GET | {constant['done']} | {constant['errors']} | "
          f"{constant['per_s']} | — | {constant['p50_ms']} | {constant['p99_ms']} | — |")
    print(f"| ceiling: form POST + aiosqlite INSERT | {insert['done']} | {insert['errors']} | "
          f"{insert['per_s']} | 1.00 | {insert['p50_ms']} | {insert['p99_ms']} | — |")
    for name, r in runs:
        ratio = float(r["per_s"]) / ceiling_rate  # type: ignore[arg-type]
        print(f"| enrolment (GET+POST), {name} | {r['done']} | {r['errors']} | {r['per_s']} | "
              f"{ratio:.2f} | {r['p50_ms']} | {r['p99_ms']} | {r['members']} |")


if __name__ == "__main__":
    main()
