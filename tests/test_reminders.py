"""What the deadline job tells officers by itself: "due soon" and "overdue" items for the cadre
holding a request, and the chair's 每日汇总 — each once, however many job runs race."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from server.labels import CHINA
from server.models import (
    Category,
    DailySummary,
    Delivery,
    EventKind,
    InboxItem,
    Level,
    Member,
    MemberStatus,
    NodeKind,
    NoticeKind,
    NoticeRead,
    NoticeScope,
    Officer,
    RequestEvent,
    Role,
    ServiceRequest,
    UnionNode,
)
from server.services import enrolment, notices, officers
from server.services.demo import DEMO_PASSWORD, ensure_node
from server.services.escalation import run_deadline_job
from server.services.lifecycle import (
    ActionInput,
    apply_officer_action,
    apply_system_transition,
    apply_worker_action,
)
from tests.conftest import XBL_CADRE, XBL_CHAIR, fresh_phone, login, new_client
from tests.factories import make_member, make_request, officer_client
from tests.test_push import drain, endpoint, push_settings, subscribe  # noqa: F401

# Monday 23 November 2026, 09:00 in Beijing: no holiday in the next fortnight.
T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


async def job(now: datetime) -> Any:
    # The summaries have a test of their own: keep them out of these runs.
    return await run_deadline_job(now, summary_hour=None)


async def due_soon_items(request_id: int) -> list[InboxItem]:
    return await InboxItem.filter(request_id=request_id, reason="due_soon")


async def test_due_soon_reminds_the_cadre_once_per_deadline(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member, Category.WAGES, now=T0)
    cadre = await Officer.get(id=item.assignee_id).select_related("union")  # type: ignore[attr-defined]
    # Filed with 24 hours to acknowledge: it starts inside the 24-hour window and its
    # "assigned" item already said so; no second ring at filing.
    await job(T0 + timedelta(hours=1))
    assert not await due_soon_items(item.id)
    await apply_officer_action(cadre, item, "acknowledge", ActionInput(),
                               now=T0 + timedelta(hours=2))
    fresh = await ServiceRequest.get(id=item.id)
    assert fresh.level_due_at == T0 + timedelta(hours=48)  # two working days for wages
    # 25 hours before the deadline: not yet.
    await job(T0 + timedelta(hours=23))
    assert not await due_soon_items(item.id)
    # Inside the window: two job runs racing, then forty direct attempts, remind once.
    near = T0 + timedelta(hours=25)
    await asyncio.gather(job(near), job(near))
    await asyncio.gather(*(apply_system_transition(fresh, "due_soon", near)
                           for _ in range(40)))
    await job(near + timedelta(hours=1))
    items = await due_soon_items(item.id)
    assert [(i.officer_id, i.member_id) for i in items] == [(cadre.id, None)]  # type: ignore[attr-defined]
    events = await RequestEvent.filter(request_id=item.id, kind=EventKind.DUE_SOON)
    assert len(events) == 1 and not events[0].public and events[0].actor_id is None  # type: ignore[attr-defined]
    # The worker reads nothing about it.
    assert not await InboxItem.filter(member_id=member.id, request_id=item.id).exists()
    async with officer_client(app, cadre.phone) as c:
        box = await c.get("/officer/inbox")
        assert "有诉求快到办理期限了" in box.text and f"/officer/requests/{item.id}" in box.text
        page = await c.get(f"/officer/requests/{item.id}")
        assert "快到期了，已提醒负责干部" in page.text
    # The deadline passes: it escalates, and the cadre's inbox says it is overdue.
    await job(T0 + timedelta(hours=49))
    assert (await ServiceRequest.get(id=item.id)).level == Level.CHAIR
    assert await InboxItem.filter(officer_id=cadre.id, request_id=item.id,
                                  reason="overdue").count() == 1
    # Escalated to the chair: the cadre is not reminded of the chair's deadline.
    await job(T0 + timedelta(hours=49 + 30))
    assert len(await due_soon_items(item.id)) == 1


async def test_a_new_deadline_gets_its_own_reminder(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member, Category.WAGES, now=T0)
    cadre = await Officer.get(id=item.assignee_id).select_related("union")  # type: ignore[attr-defined]
    await apply_officer_action(cadre, item, "reply", ActionInput(note="在办"),
                               now=T0 + timedelta(hours=1))
    await job(T0 + timedelta(hours=30))
    assert len(await due_soon_items(item.id)) == 1
    await apply_officer_action(cadre, await ServiceRequest.get(id=item.id), "resolve",
                               ActionInput(note="已发"), now=T0 + timedelta(hours=40))
    # The worker says it is not solved: a new deadline two working days on.
    reopened_at = T0 + timedelta(hours=42)
    await apply_worker_action(member, await ServiceRequest.get(id=item.id), "reopen",
                              ActionInput(note="还差一半", client_id=uuid.uuid4()),
                              now=reopened_at)
    due = (await ServiceRequest.get(id=item.id)).level_due_at
    assert due == reopened_at + timedelta(hours=48)
    await asyncio.gather(job(due - timedelta(hours=2)), job(due - timedelta(hours=2)))
    assert len(await due_soon_items(item.id)) == 2


async def test_due_soon_window_is_a_setting(app: Any) -> None:
    from server.settings import SettingsError, load

    env = {"LIANXIN_SECRET_KEY": "x" * 40}
    assert load(env).due_soon_hours == 24 and load(env).summary_hour == 7
    assert load({**env, "LIANXIN_DUE_SOON_HOURS": "4"}).due_soon_hours == 4
    for bad in ({"LIANXIN_DUE_SOON_HOURS": "0"}, {"LIANXIN_SUMMARY_HOUR": "24"}):
        try:
            load({**env, **bad})
        except SettingsError as exc:
            assert next(iter(bad)) in str(exc)
        else:
            raise AssertionError(f"{bad} accepted")
    # A four-hour window reminds of the 24-hour acknowledgement deadline too.
    member = await make_member(app)
    item = await make_request(member, Category.OTHER, now=T0)
    await run_deadline_job(T0 + timedelta(hours=19), due_soon=timedelta(hours=4),
                           summary_hour=None)
    assert not await due_soon_items(item.id)
    await run_deadline_job(T0 + timedelta(hours=21), due_soon=timedelta(hours=4),
                           summary_hour=None)
    assert len(await due_soon_items(item.id)) == 1


# --- 每日汇总 ----------------------------------------------------------------------------------

async def summary_site(app: Any) -> tuple[UnionNode, list[Officer], Officer]:
    """A project of its own (exact figures): two active chairs, one deactivated, a cadre."""
    project = await ensure_node("summary-site", "汇总测试工地", NodeKind.PROJECT,
                                "cscec1-xibei", auto_approve=False)
    made = []
    for name, role in (("主席甲", Role.CHAIR), ("主席乙", Role.CHAIR), ("前主席丙", Role.CHAIR),
                       ("干部丁", Role.CADRE)):
        made.append(await officers.add_officer(phone=fresh_phone(), name=name, role=role,
                                               union_code=project.code,
                                               password=DEMO_PASSWORD))
    await officers.deactivate(made[2], None)
    return project, made[:2], made[3]


async def active_member(app: Any, project: UnionNode, name: str) -> Member:
    pending = await enrolment.enrol(project, enrolment.EnrolmentData(
        uuid.uuid4(), name, fresh_phone(), "木工", None, "某劳务公司", "陕西", ""),
        app.state.keyring)
    from server.services import membership

    await membership.approve(pending.member, None)
    return await Member.get(id=pending.member.id).select_related("project", "team", "liaison")


async def test_daily_summary_once_per_chair_and_day(app: Any, endpoint: Any,  # noqa: F811
                                                    push_settings: Any) -> None:  # noqa: F811
    project, (chair, chair2), cadre = await summary_site(app)
    day = date(2026, 12, 2)
    morning = datetime(2026, 12, 2, 7, 30, tzinfo=CHINA).astimezone(UTC)
    yesterday = datetime(2026, 12, 1, 10, 0, tzinfo=CHINA).astimezone(UTC)
    m1 = await active_member(app, project, "读了的工友")
    m2 = await active_member(app, project, "没读的工友")
    await enrolment.enrol(project, enrolment.EnrolmentData(
        uuid.uuid4(), "等审核", fresh_phone(), "木工", None, "某劳务公司", "陕西", ""),
        app.state.keyring)
    # Late (its resolve deadline passed), two new yesterday, one filed earlier and resolved
    # yesterday.
    late = await make_request(m1, Category.WAGES, now=morning - timedelta(days=7))
    await make_request(m1, Category.SAFETY, now=yesterday)
    await make_request(m2, Category.OTHER, now=yesterday)
    done = await make_request(m2, Category.OTHER, now=morning - timedelta(days=2))
    chair_loaded = await Officer.get(id=chair.id).select_related("union")
    await apply_officer_action(chair_loaded, done, "resolve", ActionInput(note="已解决"),
                               now=yesterday + timedelta(hours=1))
    notice, _ = await notices.publish(chair_loaded, notices.NewNotice(
        uuid.uuid4(), "塔吊停用", "大风，塔吊停用。", NoticeScope.PROJECT, None,
        NoticeKind.SAFETY, False, False, None), now=yesterday)
    await NoticeRead.create(notice_id=notice.id, member_id=m1.id, created_at=morning)
    phone = await subscribe(endpoint, push_settings, officer=chair)

    # Before the hour: nothing.
    await run_deadline_job(morning - timedelta(minutes=31))
    assert not await DailySummary.filter(project_id=project.id, day=day).exists()
    # Two runs racing at 07:30 make one summary and one item per active chair.
    await asyncio.gather(run_deadline_job(morning), run_deadline_job(morning))
    await run_deadline_job(morning + timedelta(hours=3))
    made = await DailySummary.get(project_id=project.id, day=day)
    items = await InboxItem.filter(summary_id=made.id).order_by("officer_id")
    assert [(i.officer_id, i.reason) for i in items] == [  # type: ignore[attr-defined]
        (chair.id, "daily_summary"), (chair2.id, "daily_summary")]
    assert made.figures["new"] == 2 and made.figures["resolved"] == 1
    assert made.figures["open"] == 3 and made.figures["overdue"] == 1
    assert made.figures["due_soon"] == 2  # yesterday's two wait to be acknowledged today
    assert made.figures["pending"] == 1
    assert made.figures["unread_members"] == 1
    assert made.figures["notices"] == [{"id": notice.id, "title": "塔吊停用",
                                        "kind": "safety", "reached": 2, "unread": 1}]
    assert (await ServiceRequest.get(id=late.id)).resolve_due_at < morning

    # One push to the chair's phone (with the escalation pushes of the late request), with a
    # line that says nothing of the figures.
    assert await Delivery.filter(inbox_item_id=items[0].id).count() == 1
    await drain(push_settings)
    got = [r.payload for r in endpoint.received
           if r.path == phone and r.payload["tag"] == "daily-summary"]
    assert got == [{"title": "今日汇总", "body": "连心桥 · 点开查看", "url": "/officer/summary",
                    "tag": "daily-summary"}]

    async with officer_client(app, chair.phone) as c:
        box = await c.get("/officer/inbox")
        assert f'href="/officer/summary/{day.isoformat()}"' in box.text
        page = await c.get(f"/officer/summary/{day.isoformat()}")
        assert page.status_code == 200
        for key, value in (("new", 2), ("resolved", 1), ("open", 3), ("overdue", 1),
                           ("pending", 1)):
            assert f'id="sum-{key}">{value}<' in page.text, key
        assert "塔吊停用" in page.text and f"/officer/notices/{notice.id}" in page.text
        assert "没读的工友" not in page.text  # names are on the notice's own page
        latest = await c.get("/officer/summary")
        assert latest.status_code == 200 and day.isoformat() in latest.text
        assert (await c.get("/officer/summary/2026-12-03")).status_code == 404
        assert (await c.get("/officer/summary/not-a-day")).status_code == 404
        # The chair's delivery log lists the summary's push.
        log = await c.get("/officer/deliveries")
        assert 'href="/officer/summary">每日汇总</a>' in log.text
    assert (await InboxItem.get(id=items[0].id)).read_at is not None
    assert (await InboxItem.get(id=items[1].id)).read_at is None
    # The page is the chair's: a cadre is refused, another project's chair sees only their
    # own project's figures.
    async with officer_client(app, cadre.phone) as c:
        assert (await c.get(f"/officer/summary/{day.isoformat()}")).status_code == 403
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        other = await c.get(f"/officer/summary/{day.isoformat()}")
        assert other.status_code == 200 and "塔吊停用" not in other.text
    async with new_client(app) as c:
        await login(c, XBL_CADRE)
        assert (await c.get("/officer/summary")).status_code == 403
    assert await Member.filter(project_id=project.id, status=MemberStatus.PENDING).count() == 1
