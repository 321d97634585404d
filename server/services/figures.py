"""The union's own measures, computed in the database: 办结率, 按时办结率, 满意率, medians,
counts by status and category, and each cadre's load. Nothing loads request rows into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from server import privacy
from server.access import projects_under
from server.db import fetch
from server.models import Officer, Role, ServiceRequest, Status
from server.models.requests import OPEN_STATUSES
from server.privacy import Count

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
    # The parts of the rates above, so that privacy can judge each one.
    done: int = 0
    countable: int = 0
    on_time: int = 0
    with_due: int = 0
    satisfied: int = 0
    acked: int = 0
    resolved: int = 0
    wages: WageFigures = field(default_factory=lambda: WageFigures(0, 0, 0, 0))


@dataclass(frozen=True)
class WageFigures:
    """Wage cases (欠薪) filed in the period and not declined: the same rule as the summary
    rows (figure_rows.PARTS), so the chair's page and the upper union's table agree.
    Compared in tests without `filers`."""
    cases: int
    owed: int  # yuan
    recovered: int  # yuan
    workers: int  # a case without a count is its filer alone
    filers: int = 0  # distinct workers who filed them (the people behind the figures)


@dataclass(frozen=True)
class WageView:
    """Wage figures as one reader may see them: outside the union the workers follow the
    small-cell rule, and the amounts of fewer than 5 workers are not shown (an amount is
    owed to people: a sum over two workers is nearly each one's pay)."""
    cases: Count
    owed: int | None
    recovered: int | None
    workers: Count
    recovered_share: float | None


def wage_view(viewer: privacy.Viewer, w: WageFigures) -> WageView:
    workers = privacy.count_for(viewer, w.workers)
    # Outside the union, fewer than K filers hide everything: one worker's case "for 8
    # people" is still one person's complaint.
    if privacy.is_outside(viewer) and 0 < w.filers < privacy.K:
        workers = privacy.SMALL
    shown = isinstance(workers, int)
    return WageView(
        cases=privacy.count_for(viewer, w.cases) if shown else privacy.SMALL,
        owed=w.owed if shown else None, recovered=w.recovered if shown else None,
        workers=workers,
        recovered_share=_share(w.recovered, w.owed) if shown else None)


@dataclass
class FiguresView:
    """The figures as one reader may see them: outside the union, small counts read "< 5",
    rates and medians over too few people are left out, and cadres are not named."""
    total: Count
    by_status: dict[str, Count]
    by_category: dict[str, Count]
    resolved_share: float | None
    on_time_share: float | None
    satisfaction: float | None
    rated: Count
    median_ack_seconds: int | None
    median_resolve_seconds: int | None
    cadres: list[CadreLoad]
    cadres_shown: bool
    wages: WageView | None = None


def view(viewer: privacy.Viewer, f: Figures) -> FiguresView:
    return FiguresView(
        total=privacy.count_for(viewer, f.total),
        by_status=privacy.table_for(viewer, f.by_status),
        by_category=privacy.table_for(viewer, f.by_category),
        resolved_share=privacy.share_for(viewer, f.done, f.countable),
        on_time_share=privacy.share_for(viewer, f.on_time, f.with_due),
        satisfaction=privacy.share_for(viewer, f.satisfied, f.rated),
        rated=privacy.count_for(viewer, f.rated),
        median_ack_seconds=privacy.median_for(viewer, f.median_ack_seconds, f.acked),
        median_resolve_seconds=privacy.median_for(viewer, f.median_resolve_seconds,
                                                  f.resolved),
        cadres=f.cadres if privacy.sees_liaisons(viewer) else [],
        cadres_shown=privacy.sees_liaisons(viewer),
        wages=wage_view(viewer, f.wages),
    )


def scope_of(officer: Officer) -> str:
    return "/" if officer.role == Role.ADMIN else officer.union.path


async def for_viewer(officer: Officer, start: datetime, end: datetime,
                     now: datetime) -> FiguresView:
    """The figures of `officer`'s union for [start, end), as they may see them."""
    return view(officer, await compute(scope_of(officer), start, end, now,
                                       loads=privacy.sees_liaisons(officer)))


def in_scope(scope_path: str) -> Q:  # the ORM form of SCOPE_SQL, for the digest's rows
    if scope_path == "/":
        return Q()
    return Q(project_id__in=projects_under(scope_path))


def period_filter(scope_path: str, start: datetime, end: datetime) -> Q:
    return in_scope(scope_path) & Q(created_at__gte=start, created_at__lt=end)


# The figures are a handful of aggregates over an indexed range of one table. Written by hand:
# the database answers each in a millisecond or two, and building them through the ORM cost
# several times that in Python on every view of the page (bench/province.py profile figures).
SCOPE_SQL = ("project_id IN (SELECT id FROM union_node WHERE path LIKE ? AND kind = 'project')")

PERIOD_SQL = """
SELECT status, category, COUNT(*) AS n,
       SUM(CASE WHEN resolved_on_time = ? THEN 1 ELSE 0 END) AS on_time,
       COUNT(resolved_on_time) AS with_due, COUNT(rating) AS rated,
       SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END) AS satisfied,
       COUNT(ack_seconds) AS acked, COUNT(resolve_seconds) AS resolved
FROM service_request WHERE {scope} created_at >= ? AND created_at < ?
GROUP BY status, category
"""

MEDIAN_SQL = """
SELECT {column} FROM service_request
WHERE {scope} created_at >= ? AND created_at < ? AND {column} IS NOT NULL
ORDER BY {column} LIMIT ? OFFSET ?
"""

WAGE_SQL = """
SELECT COUNT(*) AS n, COALESCE(SUM(COALESCE(amount_owed, 0)), 0) AS owed,
       COALESCE(SUM(COALESCE(amount_recovered, 0)), 0) AS recovered,
       COALESCE(SUM(COALESCE(workers_affected, 1)), 0) AS workers,
       COUNT(DISTINCT member_id) AS filers
FROM service_request WHERE {scope} created_at >= ? AND created_at < ?
  AND category = 'wages' AND status <> 'declined' AND duplicate_of_id IS NULL
"""

LOADS_SQL = """
SELECT r.assignee_id, o.name, COUNT(*) AS n,
       SUM(CASE WHEN r.level_due_at < ? THEN 1 ELSE 0 END) AS overdue
FROM service_request r JOIN officer o ON o.id = r.assignee_id
WHERE {scope} r.status IN ({open_statuses})
GROUP BY r.assignee_id, o.name
"""


def _scope(scope_path: str, alias: str = "") -> tuple[str, list[object]]:
    """The scope's WHERE clause prefix (ending in AND) and its parameters."""
    if scope_path == "/":
        return "", []
    return f"{alias}{SCOPE_SQL} AND ", [_like_prefix(scope_path)]


def _like_prefix(path: str) -> str:
    # Union paths are made of codes ([a-z0-9-]) and slashes: nothing to escape for LIKE.
    return path + "%"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


async def _median(column: str, scope_path: str, start: datetime, end: datetime,
                  n: int) -> int | None:
    if n == 0:
        return None
    where, params = _scope(scope_path)
    rows = await fetch(MEDIAN_SQL.format(column=column, scope=where), *params, start, end,
                       2 - n % 2, (n - 1) // 2)
    numbers = [int(row[0]) for row in rows]
    return sum(numbers) // len(numbers)


async def compute(scope_path: str, start: datetime, end: datetime,
                  now: datetime, *, loads: bool = True) -> Figures:
    where, params = _scope(scope_path)
    by_status: dict[str, int] = {}
    by_category: dict[str, int] = {}
    on_time = resolved_with_due = rated = satisfied = acked = resolved = 0
    for (status, category, n, ok, due, rates, happy, ack_n, res_n) in await fetch(
            PERIOD_SQL.format(scope=where), True, *params, start, end):
        by_status[str(status)] = by_status.get(str(status), 0) + int(n)
        by_category[str(category)] = by_category.get(str(category), 0) + int(n)
        on_time += int(ok or 0)
        resolved_with_due += int(due)
        rated += int(rates)
        satisfied += int(happy or 0)
        acked += int(ack_n)
        resolved += int(res_n)
    wage_row = (await fetch(WAGE_SQL.format(scope=where), *params, start, end))[0]
    wages = WageFigures(*(int(v or 0) for v in wage_row))
    total = sum(by_status.values())
    done = sum(by_status.get(s, 0) for s in DONE)
    countable = total - by_status.get(Status.DECLINED, 0)
    return Figures(
        total=total, by_status=by_status, by_category=by_category,
        resolved_share=_share(done, countable), on_time_share=_share(on_time, resolved_with_due),
        satisfaction=_share(satisfied, rated), rated=rated,
        median_ack_seconds=await _median("ack_seconds", scope_path, start, end, acked),
        median_resolve_seconds=await _median("resolve_seconds", scope_path, start, end,
                                             resolved),
        cadres=await cadre_loads(scope_path, now) if loads else [],
        done=done, countable=countable, on_time=on_time, with_due=resolved_with_due,
        satisfied=satisfied, acked=acked, resolved=resolved, wages=wages,
    )


async def cadre_loads(scope_path: str, now: datetime) -> list[CadreLoad]:
    """Open requests per assignee (all periods: load is what is on their desk now)."""
    where, params = _scope(scope_path, "r.")
    open_statuses = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
    rows = await fetch(LOADS_SQL.format(scope=where, open_statuses=open_statuses), now, *params)
    loads = [CadreLoad(int(i), str(name), int(n), int(late or 0)) for i, name, n, late in rows]
    return sorted(loads, key=lambda c: (-c.open, c.name))


# The printable page lists this many requests of the period; the Excel file holds many more.
DIGEST_PAGE_LIMIT = 300
DIGEST_XLSX_LIMIT = 20_000
DIGEST_COLUMNS = ("id", "category", "created_at", "status", "level", "referred", "resolved_at",
                  "resolved_on_time", "rating", "description", "resolution")


async def digest_rows(scope_path: str, start: datetime, end: datetime, limit: int,
                      viewer: privacy.Viewer) -> tuple[list[dict[str, Any]], int]:
    """Requests of the period for the leadership digest that `viewer` may read, by category;
    no identities (the columns read are the request's own, never the member's)."""
    q = period_filter(scope_path, start, end) & privacy.readable_requests(viewer)
    total = await ServiceRequest.filter(q).count()
    rows = await ServiceRequest.filter(q).order_by("category", "created_at").limit(
        limit).values(*DIGEST_COLUMNS)
    return rows, total
