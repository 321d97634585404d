"""The chair's figures page over 20,000 requests in one project, on SQLite, in process.

    .venv/bin/python bench/figures_sqlite.py [--requests 20000] [--runs 5]

Builds a scratch database (migrations, demo, one project with a chair and a cadre, one
member and N requests over the last four weeks), then times GET /officer/figures through
the ASGI app after a warm-up, and prints the median and the slowest run. Goal: under 1 s.
(The unit test tests/test_figures.py checks the same page's numbers, not its time.)
"""

from __future__ import annotations

import argparse
import asyncio
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
from server.models import Category, Member, Officer, ServiceRequest, Status
from server.passwords import hash_password
from server.services.demo import ensure_node, load_demo
from server.settings import load

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def fill(n: int) -> str:
    project = await ensure_node("bigfig", "bigfig 项目", "project", "cscec1-xibei", True)
    await Officer.create(phone="13600000099", name="bigfig 主席", role="chair", union=project,
                         password_hash=hash_password("chair-password"))
    cadre = await Officer.create(phone="13610000099", name="bigfig 干部", role="cadre",
                                 union=project, password_hash=hash_password("bigfig-cadre"))
    member = await Member.create(name="李建国", phone="13700000001", trade="钢筋工",
                                 project=project, status="active", liaison=cadre,
                                 client_id=uuid.uuid4(), member_no="LX9999000001",
                                 joined_at=datetime.now(UTC))
    now = datetime.now(UTC)
    rng = random.Random(7)
    rows = []
    for i in range(n):
        created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 28))
        status = rng.choice(list(Status))
        done = status in {Status.RESOLVED, Status.CLOSED}
        rows.append(ServiceRequest(
            client_id=uuid.uuid4(), member_id=member.id, project_id=project.id,
            project_path=project.path, category=rng.choice(list(Category)),
            description=f"测试诉求 {i}", status=status, created_at=created,
            ack_due_at=created + timedelta(hours=24), resolve_due_at=created + timedelta(days=3),
            level_due_at=now + timedelta(days=30), assignee_id=cadre.id,
            ack_seconds=rng.randint(60, 90_000) if status != Status.SUBMITTED else None,
            resolve_seconds=rng.randint(3600, 400_000) if done else None,
            resolved_on_time=rng.random() < 0.9 if done else None,
            rating=rng.randint(1, 5) if done and rng.random() < 0.7 else None,
        ))
    await ServiceRequest.bulk_create(rows, batch_size=2000)
    return "13600000099"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite://{tmp}/figures.sqlite3"
        await apply_migrations(url)
        app = create_app(load({"LIANXIN_DB_URL": url, "LIANXIN_SECRET_FILE": f"{tmp}/secret",
                               "LIANXIN_DEADLINE_JOB_SECONDS": "0"}))
        async with LifespanManager(app):
            await load_demo()
            phone = await fill(args.requests)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                page = await c.get("/officer/login")
                token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
                await c.post("/officer/login", data={"csrf_token": token, "phone": phone,
                                                     "password": "chair-password"})
                await c.get("/officer/figures")  # warm-up: templates, first connection use
                times = []
                for _ in range(args.runs):
                    started = time.perf_counter()
                    page = await c.get("/officer/figures")
                    times.append(time.perf_counter() - started)
                    assert f'id="fig-total">{args.requests}<' in page.text
    print(f"chair figures page over {args.requests:,} requests (SQLite): "
          f"median {statistics.median(times) * 1000:.0f} ms, "
          f"slowest {max(times) * 1000:.0f} ms of {args.runs}")


if __name__ == "__main__":
    asyncio.run(main())
