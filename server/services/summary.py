"""每日汇总: each morning, every project chair gets one inbox item pointing at the project's
figures as they stood then: yesterday's new and resolved requests, what is open, overdue and
due soon, members who have not opened a safety or pay notice, members waiting for approval.

Made by the deadline job (every server process runs it) once the configured hour has come,
Beijing time: UNIQUE (project, day) on the summary and (summary, officer) on the inbox item
make "once per chair and day" a property of the tables, however many processes race.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from server.db import transaction
from server.labels import CHINA
from server.models import (
    DailySummary,
    InboxItem,
    Member,
    MemberStatus,
    NodeKind,
    Notice,
    NoticeRead,
    NoticeScope,
    Officer,
    Role,
    ServiceRequest,
    UnionNode,
)
from server.models.requests import OPEN_STATUSES
from server.services import delivery, notices, push

DEFAULT_HOUR = 7
REASON = push.SUMMARY_REASON
# Safety and pay notices younger than this are followed in the summary; older ones are
# either read by now or no longer worth a walk across the site.
NOTICE_DAYS = 14
MAX_NOTICES = 10


def day_of(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0, 0), CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class NoticeLine:
    id: int
    title: str
    kind: str
    reached: int
    unread: int


async def _notice_lines(project: UnionNode, now: datetime) -> tuple[list[NoticeLine], int]:
    """The project's recent safety and pay notices with how many of its members have not
    opened each, and how many members have not opened at least one of them."""
    reaching = (Q(union_id=project.id, scope__in=[NoticeScope.PROJECT, NoticeScope.TEAM,
                                                   NoticeScope.MINE])
                | Q(scope=NoticeScope.BELOW, union_id__in=notices.ancestors(project)))
    rows = await Notice.filter(
        reaching, kind__in=list(notices.FOLLOW_UP_KINDS),
        created_at__gte=now - timedelta(days=NOTICE_DAYS)).filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=now)).order_by("-id").limit(
        MAX_NOTICES).select_related("union")
    lines = []
    behind: set[int] = set()
    for notice in rows:
        mine = Member.filter(notices.recipients(notice) & Q(project_id=project.id))
        read = NoticeRead.filter(notice_id=notice.id).values("member_id")
        unread_ids = await mine.exclude(id__in=Subquery(read)).values_list("id", flat=True)
        behind.update(int(i) for i in unread_ids)  # type: ignore[call-overload]
        lines.append(NoticeLine(notice.id, notice.title, str(notice.kind), await mine.count(),
                                len(unread_ids)))
    return lines, len(behind)


async def figures(project: UnionNode, day: date, now: datetime,
                  due_soon: timedelta) -> dict[str, object]:
    """What the chair reads on the morning of `day`."""
    start, end = _day_bounds(day - timedelta(days=1))
    requests = ServiceRequest.filter(project_id=project.id)
    open_ = requests.filter(status__in=list(OPEN_STATUSES))
    lines, behind = await _notice_lines(project, now)
    return {
        "new": await requests.filter(created_at__gte=start, created_at__lt=end).count(),
        "resolved": await requests.filter(resolved_at__gte=start, resolved_at__lt=end).count(),
        "open": await open_.count(),
        # Past the promise made to the worker, not the level's clock: the deadline job moves
        # a request up a level the minute that clock runs out, with a fresh one.
        "overdue": await open_.filter(resolve_due_at__lt=now).count(),
        "due_soon": await open_.filter(level_due_at__gte=now,
                                       level_due_at__lte=now + due_soon).count(),
        "due_soon_hours": int(due_soon.total_seconds() // 3600),
        "pending": await Member.filter(project_id=project.id,
                                       status=MemberStatus.PENDING).count(),
        "unread_members": behind,
        "notices": [line.__dict__ for line in lines],
        "as_of": now.isoformat(),
    }


async def make_one(project: UnionNode, day: date, now: datetime, due_soon: timedelta) -> bool:
    """The project's summary for `day` and its chairs' inbox items and pushes, in one
    transaction; False when it existed (another process made it first)."""
    values = await figures(project, day, now, due_soon)
    try:
        async with transaction() as tx:
            made = await DailySummary.create(project_id=project.id, day=day, figures=values,
                                             created_at=now, using_db=tx)
            chairs = await Officer.filter(union_id=project.id, role=Role.CHAIR,
                                          active=True).using_db(tx).values_list("id", flat=True)
            await InboxItem.bulk_create(
                [InboxItem(officer_id=int(c), summary_id=made.id,  # type: ignore[call-overload]
                           reason=REASON, created_at=now) for c in chairs], using_db=tx)
            await delivery.enqueue_for_summary(tx, made.id)
    except IntegrityError:
        return False
    return True


async def make_due(now: datetime, hour: int, due_soon: timedelta) -> int:
    """Today's summaries not made yet, once the local hour has come: one statement when there
    is nothing to do (every minute from then to midnight)."""
    local = now.astimezone(CHINA)
    if local.hour < hour:
        return 0
    day = local.date()
    chaired = Officer.filter(role=Role.CHAIR, active=True).values("union_id")
    done = DailySummary.filter(day=day).values("project_id")
    projects = await UnionNode.filter(kind=NodeKind.PROJECT, id__in=Subquery(chaired)).exclude(
        id__in=Subquery(done)).order_by("id")
    made = 0
    for project in projects:
        made += await make_one(project, day, now, due_soon)
    return made


async def for_officer(officer: Officer, day: date | None = None) -> DailySummary | None:
    """The summary of the chair's own project for `day` (the latest when None)."""
    if officer.role != Role.CHAIR or not officer.union.is_project:
        return None
    query = DailySummary.filter(project_id=officer.union.id)
    if day is not None:
        return await query.filter(day=day).first()
    return await query.order_by("-day").first()


async def mark_read(officer: Officer, made: DailySummary) -> None:
    await InboxItem.filter(officer_id=officer.id, summary_id=made.id,
                           read_at__isnull=True).update(read_at=datetime.now(UTC))
