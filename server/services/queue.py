"""The officer's live request queue: its order, the marks on its rows (新, 重开, 补充), the
version a poll compares to answer 304, and the counts the badges show.

A cadre leaves the queue open on a phone all day; it asks every ~20 s whether anything
changed. The answer to "nothing" must cost one small aggregate per table and no rendering:
`version` is that aggregate, and the route answers 304 with no body when the poll's
If-None-Match is still the version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.expressions import Case, Q, When
from tortoise.functions import Count, Max

from server.models import InboxItem, Level, Officer, Role, ServiceRequest, Status, Urgency
from server.models.requests import OPEN_STATUSES

# The marks a row can carry, from the officer's own unread inbox items (what "until seen"
# means for them) and, for 新, from nobody on the union side having opened it yet.
MARK_NEW, MARK_REOPENED, MARK_FOLLOW_UP = "new", "reopened", "follow_up"
_MARK_OF_REASON = {"assigned": MARK_NEW, "reopened": MARK_REOPENED,
                   "follow_up": MARK_FOLLOW_UP}


def overdue_q(now: datetime) -> Q:
    return Q(status__in=list(OPEN_STATUSES), level_due_at__lt=now)


def ordered(query: Any, now: datetime) -> Any:
    """Urgent (很急) first, then overdue, then by the current deadline, oldest id first."""
    return query.annotate(
        urgent_rank=Case(When(urgency=Urgency.URGENT.value, then="0"), default="1"),
        overdue_rank=Case(When(overdue_q(now), then="0"), default="1"),
    ).order_by("urgent_rank", "overdue_rank", "level_due_at", "id")


async def version(officer: Officer, scope: Q, now: datetime, variant: str) -> str:
    """A strong ETag of what the queue page `variant` (language, query string) shows now.

    Everything a row shows moves `last_event_id` (a new request, a reply, a reassignment, a
    view), apart from a deadline passing (the overdue count) and the officer reading their
    own inbox (their unread items). Two aggregates, each one indexed scan."""
    rows = await ServiceRequest.filter(scope).annotate(
        n=Count("id"), newest=Max("last_event_id"),
        late=Count("id", _filter=overdue_q(now)),
    ).values("n", "newest", "late")
    mine = await InboxItem.filter(officer_id=officer.id, read_at__isnull=True).annotate(
        n=Count("id"), newest=Max("id")).values("n", "newest")
    parts = [variant, officer.id, *(rows[0].values() if rows else ()),
             *(mine[0].values() if mine else ())]
    digest = hashlib.blake2s("|".join(str(p) for p in parts).encode(), digest_size=12)
    return f'"{digest.hexdigest()}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


async def marks(officer: Officer, rows: Iterable[Mapping[str, Any]]) -> dict[int, set[str]]:
    """The marks of the rows on one page: 新 while nobody on the union side has opened an
    open request, or while the officer's own "assigned" item is unread; 重开 and 补充 while
    their "reopened" and "follow_up" items are unread."""
    rows = list(rows)
    out: dict[int, set[str]] = {int(r["id"]): set() for r in rows}
    for r in rows:
        if r["viewed_at"] is None and r["status"] in OPEN_STATUSES:
            out[int(r["id"])].add(MARK_NEW)
    if out:
        unread = await InboxItem.filter(officer_id=officer.id, read_at__isnull=True,
                                        request_id__in=list(out)).values_list(
            "request_id", "reason")
        for request_id, reason in unread:
            mark = _MARK_OF_REASON.get(str(reason))
            if mark and request_id in out:
                out[int(request_id)].add(mark)
    return out


@dataclass(frozen=True)
class Counts:
    submitted: int
    overdue: int
    escalated: int
    escalated_level: str


async def counts(officer: Officer, scope: Q, now: datetime) -> Counts:
    """What the badges count: waiting to be acknowledged, overdue, and (for a chair or the
    upper union) passed up to their level. One aggregate."""
    mine_level = {Role.CHAIR: Level.CHAIR, Role.UPPER: Level.UPPER}.get(officer.role)
    escalated = Q(status__in=list(OPEN_STATUSES), level=mine_level) if mine_level else Q(
        id=0)
    rows = await ServiceRequest.filter(scope).annotate(
        submitted=Count("id", _filter=Q(status=Status.SUBMITTED)),
        overdue=Count("id", _filter=overdue_q(now)),
        escalated=Count("id", _filter=escalated),
    ).values("submitted", "overdue", "escalated")
    row = rows[0] if rows else {}
    return Counts(int(row.get("submitted") or 0), int(row.get("overdue") or 0),
                  int(row.get("escalated") or 0), mine_level.value if mine_level else "")
