"""The chair's figures: right numbers, computed in the database, on 20,000 requests too.
(How fast the page is at that size: bench/figures_sqlite.py.)"""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.models import Category, Officer, ServiceRequest, Status
from server.passwords import hash_password
from server.services import figures
from server.services.demo import ensure_node
from server.services.lifecycle import ActionInput, apply_officer_action, apply_worker_action
from tests.factories import make_member, make_request, officer_client


async def make_project(code: str) -> tuple[Any, Officer]:
    project = await ensure_node(code, f"{code} 项目", "project", "cscec1-xibei", True)
    chair = await Officer.get_or_none(phone=f"1360000{len(code):04d}")
    if chair is None:
        chair = await Officer.create(phone=f"1360000{len(code):04d}", name=f"{code} 主席",
                                     role="chair", union=project,
                                     password_hash=hash_password("chair-password"))
        await Officer.create(phone=f"1361000{len(code):04d}", name=f"{code} 干部",
                             role="cadre", union=project, password_hash="x")
    return project, chair


async def test_figures_are_right(app: Any) -> None:
    project, chair = await make_project("fig")
    await chair.fetch_related("union")
    member = await make_member(app, "fig")
    t0 = datetime.now(UTC) - timedelta(days=3)
    A = ActionInput
    on_time = await make_request(member, now=t0)
    await apply_officer_action(chair, on_time, "resolve", A(note="好了"),
                                   now=t0 + timedelta(hours=2))
    await apply_worker_action(member, await ServiceRequest.get(id=on_time.id), "rate",
                                  A(rating=5))
    late = await make_request(member, category=Category.LIVING, now=t0 - timedelta(days=20))
    await apply_officer_action(chair, late, "acknowledge", A(), now=t0 - timedelta(days=19))
    await apply_officer_action(chair, await ServiceRequest.get(id=late.id), "resolve",
                                   A(note="晚了"), now=t0)
    await apply_worker_action(member, await ServiceRequest.get(id=late.id), "rate",
                                  A(rating=2))
    declined = await make_request(member, category=Category.OTHER, now=t0)
    await apply_officer_action(chair, declined, "decline", A(note="不归工会"), now=t0)
    await make_request(member, category=Category.SAFETY, now=t0)
    start, end = t0 - timedelta(days=30), datetime.now(UTC) + timedelta(seconds=1)
    f = await figures.compute(project.path, start, end, datetime.now(UTC))
    assert f.total == 4
    assert f.by_status == {"resolved": 2, "declined": 1, "submitted": 1}
    assert f.by_category == {"wages": 1, "living": 1, "other": 1, "safety": 1}
    assert f.resolved_share == 2 / 3
    assert f.on_time_share == 1 / 2
    assert f.satisfaction == 1 / 2 and f.rated == 2
    assert f.median_ack_seconds == (7200 + 86400) // 2
    assert f.median_resolve_seconds == (7200 + 20 * 86400) // 2
    # Load is what is open now, whatever the period: the safety request, a day overdue.
    assert [(c.name, c.open, c.overdue) for c in f.cadres] == [("fig 干部", 1, 1)]
    empty = await figures.compute(project.path, t0 - timedelta(days=300),
                                  t0 - timedelta(days=200), datetime.now(UTC))
    assert empty.total == 0 and empty.by_status == {} and empty.resolved_share is None
    assert empty.median_ack_seconds is None and empty.satisfaction is None
    async with officer_client(app, chair.phone, "chair-password") as c:
        page = await c.get("/officer/figures", params={
            "start": (t0 - timedelta(days=30)).strftime("%Y-%m-%d"),
            "end": datetime.now(UTC).strftime("%Y-%m-%d")})
    assert page.status_code == 200
    assert re.search(r'id="fig-total">4<', page.text)
    assert 'id="fig-resolved">66.7%<' in page.text
    assert 'id="fig-ontime">50.0%<' in page.text


async def test_20000_requests_all_counted(app: Any) -> None:
    project, chair = await make_project("bigfig")
    member = await make_member(app, "bigfig")
    now = datetime.now(UTC)
    rng = random.Random(7)
    statuses = list(Status)
    categories = list(Category)
    rows = []
    for i in range(20_000):
        created = now - timedelta(minutes=rng.randint(1, 60 * 24 * 28))
        status = rng.choice(statuses)
        done = status in {Status.RESOLVED, Status.CLOSED}
        rows.append(ServiceRequest(
            client_id=uuid.uuid4(), member_id=member.id, project_id=project.id,
            category=rng.choice(categories),
            description=f"测试诉求 {i}", status=status, created_at=created,
            ack_due_at=created + timedelta(hours=24), resolve_due_at=created + timedelta(days=3),
            # Not overdue: these rows are for the figures, not for the deadline job.
            level_due_at=now + timedelta(days=30),
            assignee_id=member.liaison_id,  # type: ignore[attr-defined]
            ack_seconds=rng.randint(60, 90_000) if status != Status.SUBMITTED else None,
            resolve_seconds=rng.randint(3600, 400_000) if done else None,
            resolved_on_time=rng.random() < 0.9 if done else None,
            rating=rng.randint(1, 5) if done and rng.random() < 0.7 else None,
        ))
    await ServiceRequest.bulk_create(rows, batch_size=2000)
    async with officer_client(app, chair.phone, "chair-password") as c:
        page = await c.get("/officer/figures")
    assert page.status_code == 200
    assert 'id="fig-total">20000<' in page.text
