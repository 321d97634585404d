"""The live queue (issue 11): conditional polling (304 while nothing changed, the new row
after a new request), urgent-first order and marks, labelled badges; 很急 deadlines; the
"干部已查看" marker (once under concurrency, never by management, no "新回复")."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.models import (
    Category,
    EventKind,
    InboxItem,
    Officer,
    RequestEvent,
    ServiceRequest,
    Status,
    Urgency,
)
from server.services import deadlines, lifecycle
from server.services import queue as live
from server.services import requests as svc
from tests.conftest import ADMIN, XBL_CHAIR, XBL_MANAGER, csrf_of
from tests.factories import make_member, make_request, member_client, officer_client
from tests.test_notice_receipts import statements

HX = {"HX-Request": "true"}


async def _urgent(member: Any, category: Category = Category.WAGES,
                  now: datetime | None = None) -> ServiceRequest:
    new = svc.NewRequest(uuid.uuid4(), category, "脚手架松了，马上要出事", Urgency.URGENT,
                         svc.Anonymity.MANAGEMENT)
    return (await svc.file_request(member, new, [], now=now)).request


def _row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-request="(\d+)"', html)]


async def test_poll_answers_304_until_something_changes(app: Any) -> None:
    member = await make_member(app)
    async with officer_client(app, XBL_CHAIR) as chair:
        page = await chair.get("/officer/requests")
        assert page.status_code == 200
        etag = page.headers["etag"]
        assert f'data-etag="{etag.replace(chr(34), "&#34;")}"' in page.text
        assert 'hx-trigger="every 20s, lx-refresh"' in page.text
        with statements() as sql:
            poll = await chair.get("/officer/requests", headers={**HX, "If-None-Match": etag})
        assert poll.status_code == 304 and poll.content == b""
        assert poll.headers["etag"] == etag
        # The session (cached officer: none), the queue's aggregate, the officer's unread
        # inbox aggregate: nothing rendered, nothing else read.
        assert len(sql) <= 3, sql
        full = await chair.get("/officer/requests", headers=HX)
        # The figure for the record (pytest -s): what one unchanged poll costs.
        head = sum(len(k) + len(v) + 4 for k, v in poll.headers.raw)
        print(f"\nunchanged poll: 304, body {len(poll.content)} B, headers {head} B, "
              f"{len(sql)} statements; a changed poll's fragment: {len(full.content)} B")
        # Without HX-Request (a full page load) the page is always sent whole.
        assert (await chair.get("/officer/requests",
                                headers={"If-None-Match": etag})).status_code == 200

        item = await make_request(member)
        poll = await chair.get("/officer/requests", headers={**HX, "If-None-Match": etag})
        assert poll.status_code == 200 and poll.headers["etag"] != etag
        assert item.id in _row_ids(poll.text)
        assert poll.text.lstrip().startswith(("{#", "<section")) and "<html" not in poll.text
        row = poll.text.split(f'data-request="{item.id}"')[1].split("</li>")[0]
        assert 'data-mark="new"' in row
        # Another filter is another version.
        other = await chair.get("/officer/requests?status=all",
                                headers={**HX, "If-None-Match": poll.headers["etag"]})
        assert other.status_code == 200


async def test_poll_sees_a_deadline_pass(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    async with officer_client(app, XBL_CHAIR) as chair:
        etag = (await chair.get("/officer/requests")).headers["etag"]
        # Time passes its deadline (no event is written: only the clock moved).
        await ServiceRequest.filter(id=item.id).update(
            level_due_at=datetime.now(UTC) - timedelta(seconds=1))
        poll = await chair.get("/officer/requests", headers={**HX, "If-None-Match": etag})
        assert poll.status_code == 200
        assert "超时" in poll.text.split(f'data-request="{item.id}"')[1].split("</li>")[0]


async def test_order_urgent_then_overdue_then_due(app: Any) -> None:
    member = await make_member(app)
    now = datetime.now(UTC)
    later = await make_request(member)  # due in 24 h
    overdue = await make_request(member, now=now - timedelta(days=2))
    urgent = await _urgent(member)  # due in 6 h
    urgent_overdue = await _urgent(member, now=now - timedelta(days=1))
    ids = [later.id, overdue.id, urgent.id, urgent_overdue.id]
    got = await live.ordered(ServiceRequest.filter(id__in=ids), now).values_list(
        "id", flat=True)
    assert list(got) == [urgent_overdue.id, urgent.id, overdue.id, later.id]
    async with officer_client(app, XBL_CHAIR) as chair:
        html = (await chair.get("/officer/requests?status=all")).text
    shown = [i for i in _row_ids(html) if i in ids]
    assert shown == [urgent_overdue.id, urgent.id, overdue.id, later.id]
    assert "很急" in html


async def test_marks_follow_the_officers_inbox(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=item.assignee_id).select_related("union")
    rows = await ServiceRequest.filter(id=item.id).values("id", "status", "viewed_at")
    assert (await live.marks(cadre, rows))[item.id] == {"new"}
    await lifecycle.apply_officer_action(cadre, item, "resolve", lifecycle.ActionInput(
        note="已经协调发放"))
    item = await ServiceRequest.get(id=item.id)
    await lifecycle.apply_worker_action(member, item, "reopen", lifecycle.ActionInput(
        note="只发了一半"))
    await InboxItem.filter(officer_id=cadre.id, reason="assigned").update(
        read_at=datetime.now(UTC))
    rows = await ServiceRequest.filter(id=item.id).values("id", "status", "viewed_at")
    assert (await live.marks(cadre, rows))[item.id] == {"new", "reopened"}


async def test_badges_say_what_they_count(app: Any) -> None:
    member = await make_member(app)
    await make_request(member, now=datetime.now(UTC) - timedelta(days=3))
    async with officer_client(app, XBL_CHAIR) as chair:
        zh = (await chair.get("/officer/badges", headers=HX)).text
        assert re.search(r"\d+ 待受理", zh) and re.search(r"\d+ 超时", zh)
        dash = (await chair.get("/officer")).text
        assert re.search(r"\d+ 条待受理", dash) and re.search(r"\d+ 条超时", dash)
        en = (await chair.get("/officer/badges",
                              headers={**HX, "Accept-Language": "en"})).text
    assert re.search(r"\d+ waiting", en) and re.search(r"\d+ late", en)
    # No count stands alone: every number on the badges is followed by its words.
    assert not re.search(r">\s*\d+\s*<", zh)


def test_urgent_rule() -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
    normal = deadlines.Targets(24, 3)
    assert deadlines.ack_time(normal, Urgency.NORMAL) == timedelta(hours=24)
    assert deadlines.ack_time(normal, Urgency.URGENT) == timedelta(hours=6)
    assert deadlines.ack_time(deadlines.Targets(2, 3), Urgency.URGENT) == timedelta(hours=1)
    assert deadlines.shortened(normal.resolve_workdays, Urgency.URGENT) == 2
    assert deadlines.shortened(1, Urgency.URGENT) == 1
    due = deadlines.due_times(Category.SAFETY, normal, Urgency.URGENT, now)
    assert due.ack == now + timedelta(hours=6)
    assert due.resolve == deadlines.add_workdays(now, 2)
    assert deadlines.next_level_due(Category.SAFETY, now, Urgency.URGENT) == deadlines.add_workdays(
        now, 1)
    assert deadlines.next_level_due(Category.SAFETY, now, Urgency.NORMAL) == deadlines.add_workdays(
        now, deadlines.LEVEL_WORKDAYS)
    # A wage case counts calendar days, and urgency halves those too (two days → one).
    wage = deadlines.due_times(Category.WAGES, deadlines.default_targets(Category.WAGES),
                               Urgency.URGENT, now)
    assert wage.resolve == now + timedelta(days=1)
    assert deadlines.next_level_due(Category.WAGES, now, Urgency.URGENT) == now + timedelta(
        days=1)


async def test_urgent_filing_shortens_deadlines_and_says_so(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        assert 'name="urgency" value="urgent"' in page.text
        r = await c.post("/requests/new", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
            "category": "safety", "description": "塔吊下面没有围挡", "urgency": "urgent"})
        assert r.status_code == 303, r.text[:300]
        item = await ServiceRequest.get(id=int(r.headers["location"].rsplit("/", 1)[1]))
        assert item.urgency == Urgency.URGENT
        assert item.ack_due_at - item.created_at == timedelta(hours=6)
        assert item.level_due_at == item.ack_due_at
        assert item.resolve_due_at == deadlines.add_workdays(item.created_at, 1)
        detail = (await c.get(f"/requests/{item.id}")).text
        assert "你标了很急" in detail and 'id="urgent-note"' in detail
        from server.labels import localtime
        assert localtime(item.ack_due_at) in detail.split('id="urgent-note"')[1][:400]
    # The outbox batch takes the same rule.
    batch = await svc.file_requests(member, [svc.NewRequest(
        uuid.uuid4(), Category.WAGES, "两个月没发工资", Urgency.URGENT,
        svc.Anonymity.MANAGEMENT)])
    filed = await ServiceRequest.get(id=batch[0].request_id)  # type: ignore[union-attr]
    assert filed.ack_due_at - filed.created_at == timedelta(hours=6)
    assert filed.resolve_due_at == deadlines.add_workdays(filed.created_at, 1)


async def test_viewed_once_under_40_openings(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=item.assignee_id)
    before = await ServiceRequest.get(id=item.id)
    async with member_client(app, member) as worker:
        await worker.get(f"/requests/{item.id}")
        badge_before = (await worker.get("/me/badges", headers=HX)).text
        async with officer_client(app, cadre.phone) as c:
            pages = await asyncio.gather(*(c.get(f"/officer/requests/{item.id}")
                                           for _ in range(40)))
            assert {p.status_code for p in pages} == {200}
        events = await RequestEvent.filter(request_id=item.id, kind=EventKind.VIEWED)
        assert len(events) == 1 and events[0].public and events[0].actor_id == cadre.id
        after = await ServiceRequest.get(id=item.id)
        assert after.viewed_at == events[0].created_at
        # Not news for the worker: no "新回复", no inbox item, not their duty-of-care contact.
        assert after.last_public_event_id == before.last_public_event_id
        assert not await InboxItem.filter(event_id=events[0].id).exists()
        assert (await worker.get("/me/badges", headers=HX)).text == badge_before
        listing = (await worker.get("/requests")).text
        row = listing.split(f'href="/requests/{item.id}"')[1].split("</li>")[0]
        assert "干部已查看" in row and "新回复" not in row
        detail = (await worker.get(f"/requests/{item.id}")).text
        assert 'id="viewed"' in detail and "干部已查看" in detail
        # Opened again later: nothing more.
        async with officer_client(app, cadre.phone) as c:
            await c.get(f"/officer/requests/{item.id}")
        assert await RequestEvent.filter(request_id=item.id, kind=EventKind.VIEWED).count() == 1


async def test_management_and_admin_never_count_as_viewed(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    # Referred straight from the chair's list (the service, not the page): only management
    # and the admin open it.
    await lifecycle.apply_officer_action(chair, item, "refer", lifecycle.ActionInput())
    for phone in (XBL_MANAGER, ADMIN):
        async with officer_client(app, phone) as c:
            assert (await c.get(f"/officer/requests/{item.id}")).status_code == 200
    fresh = await ServiceRequest.get(id=item.id)
    assert fresh.viewed_at is None
    assert not await RequestEvent.filter(request_id=item.id, kind=EventKind.VIEWED).exists()
    # The chair, who may act on it, does count; a closed request never does.
    async with officer_client(app, XBL_CHAIR) as c:
        await c.get(f"/officer/requests/{item.id}")
    assert (await ServiceRequest.get(id=item.id)).viewed_at is not None
    done = await make_request(member)
    await ServiceRequest.filter(id=done.id).update(status=Status.CLOSED)
    async with officer_client(app, XBL_CHAIR) as c:
        await c.get(f"/officer/requests/{done.id}")
    assert (await ServiceRequest.get(id=done.id)).viewed_at is None
