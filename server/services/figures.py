"""The union's own measures, computed in the database: 办结率, 按时办结率, 满意率, medians,
counts by status and category, and each cadre's load. Nothing loads request rows into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from server.models import Officer, ServiceRequest, Status, UnionNode
from server.models.requests import OPEN_STATUSES

DONE = (Status.RESOLVED, Status.CLOSED)


@dataclass
class CadreLoad:
    officer_id: int
    name: str
    open: int
    overdue: int


@dataclass
class Figures:
    total: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    resolved_share: float | None
    on_time_share: float | None
    satisfaction: float | None
    rated: int
    median_ack_seconds: int | None
    median_resolve_seconds: int | None
    cadres: list[CadreLoad] = field(default_factory=list)


def in_scope(scope_path: str) -> Q:
    if scope_path == "/":
        return Q()
    return Q(project_id__in=Subquery(UnionNode.filter(
        path__startswith=scope_path, kind="project").values("id")))


def period_filter(scope_path: str, start: datetime, end: datetime) -> Q:
    return in_scope(scope_path) & Q(created_at__gte=start, created_at__lt=end)


async def _grouped(q: Q, column: str) -> dict[str, int]:
    rows = await ServiceRequest.filter(q).annotate(n=Count("id")).group_by(column).values_list(
        column, "n")
    return {str(key): int(n) for key, n in rows}


async def _median(q: Q, column: str) -> int | None:
    base = ServiceRequest.filter(q, **{f"{column}__isnull": False})
    n = await base.count()
    if n == 0:
        return None
    values = await base.order_by(column).offset((n - 1) // 2).limit(2 - n % 2).values_list(
        column, flat=True)
    numbers = [int(v) for v in values]  # type: ignore[call-overload]
    return sum(numbers) // len(numbers)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def compute(scope_path: str, start: datetime, end: datetime,
                  now: datetime) -> Figures:
    q = period_filter(scope_path, start, end)
    by_status = await _grouped(q, "status")
    by_category = await _grouped(q, "category")
    total = sum(by_status.values())
    done = sum(by_status.get(s, 0) for s in DONE)
    countable = total - by_status.get(Status.DECLINED, 0)
    # Four counts in one pass over the period's rows.
    counts = await ServiceRequest.filter(q).annotate(
        on_time=Count("id", _filter=Q(resolved_on_time=True)),
        resolved_with_due=Count("id", _filter=Q(resolved_on_time__isnull=False)),
        rated=Count("id", _filter=Q(rating__isnull=False)),
        satisfied=Count("id", _filter=Q(rating__gte=4)),
    ).values("on_time", "resolved_with_due", "rated", "satisfied")
    row = counts[0] if counts else {}
    on_time, resolved_with_due, rated, satisfied = (
        int(row.get(k) or 0) for k in ("on_time", "resolved_with_due", "rated", "satisfied"))
    return Figures(
        total=total, by_status=by_status, by_category=by_category,
        resolved_share=_share(done, countable), on_time_share=_share(on_time, resolved_with_due),
        satisfaction=_share(satisfied, rated), rated=rated,
        median_ack_seconds=await _median(q, "ack_seconds"),
        median_resolve_seconds=await _median(q, "resolve_seconds"),
        cadres=await cadre_loads(scope_path, now),
    )


async def cadre_loads(scope_path: str, now: datetime) -> list[CadreLoad]:
    """Open requests per assignee (all periods: load is what is on their desk now)."""
    open_q = in_scope(scope_path) & Q(status__in=list(OPEN_STATUSES))
    open_counts = dict(await ServiceRequest.filter(open_q, assignee_id__isnull=False).annotate(
        n=Count("id")).group_by("assignee_id").values_list("assignee_id", "n"))
    overdue_counts = dict(await ServiceRequest.filter(
        open_q, assignee_id__isnull=False, level_due_at__lt=now).annotate(
        n=Count("id")).group_by("assignee_id").values_list("assignee_id", "n"))
    officers = await Officer.filter(id__in=list(open_counts)).values_list("id", "name")
    loads = [CadreLoad(int(i), str(name), int(open_counts.get(i, 0)),
                       int(overdue_counts.get(i, 0))) for i, name in officers]
    return sorted(loads, key=lambda c: (-c.open, c.name))


DIGEST_LIMIT = 2000


async def digest_rows(scope_path: str, start: datetime, end: datetime) -> tuple[
        list[ServiceRequest], int]:
    """Requests of the period for the leadership digest, by category; no identities."""
    q = period_filter(scope_path, start, end)
    total = await ServiceRequest.filter(q).count()
    rows = await ServiceRequest.filter(q).order_by("category", "created_at").limit(
        DIGEST_LIMIT).select_related("project")
    return rows, total
