"""The duty-of-care pages at their intended size: a cadre's list of 100 members and a
chair's table of 50 cadres (5,000 members), among many other projects' members.

    .venv/bin/python bench/care_pages.py [--db postgres://…/scratch] [--others 50000] [--runs 20]

Builds a scratch database (SQLite in a temporary folder by default; an empty PostgreSQL
database with --db), migrates it, loads the demo, adds one project with 50 cadres of 100
active members each (a third never contacted, the rest in the last 60 days) and --others
active members in another project, then times GET /officer/care through the ASGI app for
the cadre and for the chair, --runs times each back to back after a warm-up, and prints
the median, p95 and the page size (as rendered, and gzipped as the server sends it).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.db import apply_migrations
from server.models import Member, Officer
from server.passwords import hash_password
from server.services.demo import ensure_node, load_demo
from server.settings import load

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "care-bench-password"  # noqa: S105 (a scratch database's officers)


async def fill(others: int) -> tuple[str, str]:
    project = await ensure_node("carebench", "carebench 项目", "project", "cscec1-xibei", True)
    other = await ensure_node("carebench-other", "carebench 别的项目", "project",
                              "cscec1-xibei", True)
    hashed = hash_password(PASSWORD)
    await Officer.create(phone="13600000088", name="carebench 主席", role="chair",
                         union=project, password_hash=hashed)
    cadres = [await Officer.create(phone=f"1361{i:07d}", name=f"干部{i:02d}", role="cadre",
                                   union=project, password_hash=hashed) for i in range(50)]
    rng = random.Random(13)
    now = datetime.now(UTC)
    phone = 15500000000
    rows = []
    for cadre in cadres:
        for _ in range(100):
            phone += 1
            contact = (None if rng.random() < 1 / 3
                       else now - timedelta(hours=rng.randint(1, 60 * 24)))
            rows.append(Member(client_id=uuid.uuid4(), project=project, phone=str(phone),
                               name=f"工友{phone % 100000:05d}", trade="钢筋工",
                               status="active", liaison=cadre, member_no=f"B{phone}",
                               joined_at=now, last_contact_at=contact))
    for _ in range(others):
        phone += 1
        rows.append(Member(client_id=uuid.uuid4(), project=other, phone=str(phone),
                           name="别处工友", trade="木工", status="active",
                           member_no=f"B{phone}", joined_at=now, last_contact_at=now))
    await Member.bulk_create(rows, batch_size=2000)
    return cadres[0].phone, "13600000088"


async def timed(app: object, phone: str, runs: int) -> tuple[list[float], bytes]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = await c.get("/officer/login")
        token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        await c.post("/officer/login", data={"csrf_token": token, "phone": phone,
                                             "password": PASSWORD})
        await c.get("/officer/care")  # warm-up
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            page = await c.get("/officer/care")
            times.append(time.perf_counter() - started)
            assert page.status_code == 200
    return times, page.content


def summary(label: str, times: list[float], body: bytes) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (f"{label}: median {statistics.median(times) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms of {len(times)}, page {len(body) / 1024:.0f} KiB "
            f"({len(gzip.compress(body)) / 1024:.0f} KiB gzipped, as sent)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="")
    parser.add_argument("--others", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite://{tmp}/care.sqlite3"
        await apply_migrations(url)
        app = create_app(load({"LIANXIN_DB_URL": url, "LIANXIN_SECRET_FILE": f"{tmp}/secret",
                               "LIANXIN_DEADLINE_JOB_SECONDS": "0",
                               "LIANXIN_DELIVERY_JOB_SECONDS": "0"}))
        async with LifespanManager(app):
            await load_demo()
            cadre, chair = await fill(args.others)
            backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
            print(f"{backend}, {5000 + args.others:,} active members in the database")
            print(summary("cadre's list (100 members)", *await timed(app, cadre, args.runs)))
            print(summary("chair's table (50 cadres, 5,000 members)",
                          *await timed(app, chair, args.runs)))


if __name__ == "__main__":
    asyncio.run(main())
