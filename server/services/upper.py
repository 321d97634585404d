"""The view from above: for a company, branch, industry or province union, every project
below it with its members, 入会率 and request figures, a monthly trend, this quarter against
the last, one project's figures, and the table as an Excel file.

Everything is read from the summary rows (`server.services.summary`): a province's table is
a GROUP BY over 500 projects × 12 months of `figures_month`, not a scan of a year of
requests. The one exception is a single project's breakdown by status and category on its
own page, which is the chair's own figures query (one project's rows, by index).

What may be shown (the privacy rules, applied by `server.privacy` for readers outside the
union's casework: the upper union; an admin sees the plain numbers):
- A count of people (members, headcount) of 1–4 reads "< 5".
- A count of requests reads "< 5" when fewer than 5 distinct workers filed them, however
  many requests that is (20 requests by 2 workers point to those 2). The summary rows know
  the distinct workers per project and month; over several months the largest month is a
  lower bound and the sum an upper bound, and only when the two straddle 5 are the workers
  counted exactly (from `figures_filer`, a handful of rows by then).
- A column with its total shown also hides its next-smallest cells ("≥ 5") until the hidden
  cells hold at least 5 people, or the total would give the small one away
  (`privacy.suppress_cells`).
- A rate is shown only where its parts are not small (`privacy.share_for`), and not at all
  for a row whose requests are hidden; 入会率 only where members and headcount both show
  (from a shown rate and a shown headcount the hidden members would follow).
- Sorting ranks a hidden cell by what it reads ("< 5" below "≥ 5" below the numbers) and
  breaks ties by name, so the order tells nothing the cells do not.
- No names of people anywhere: projects, teams and unions only.
Differences between overlapping periods (a quarter and its months) can still narrow a small
cell down; as on the other figure pages, each table is suppressed on its own.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import xlsxwriter

from server import privacy
from server.db import fetch, id_list
from server.i18n import N_, gettext
from server.labels import CHINA
from server.models import NodeKind, Officer, Role, UnionNode
from server.models.figures import ProjectFigures
from server.privacy import Count, K
from server.services import coverage, figure_rows, figures
from server.services.offload import run_heavy

log = logging.getLogger(__name__)
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TREND_MONTHS = 12
MAX_PERIOD_MONTHS = 60
# Rows per page of the table (sorted over all projects first); the Excel file has them all.
# A province has 500 projects: one page of all of them is 500 rows to render per view.
PAGE_SIZE = 50

Kind = Literal["text", "count", "rate", "amount"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # message id
    kind: Kind


# The table's columns, in order; sorting, the page and the Excel file all read this.
COLUMNS: tuple[Column, ...] = (
    Column("name", N_("项目"), "text"),
    Column("members", N_("会员"), "count"),
    Column("headcount", N_("在场人数"), "count"),
    Column("coverage", N_("入会率"), "rate"),
    Column("requests", N_("诉求"), "count"),
    Column("resolved", N_("办结率"), "rate"),
    Column("on_time", N_("按时办结率"), "rate"),
    Column("satisfaction", N_("满意率"), "rate"),
    Column("overdue", N_("超时未办"), "count"),
    # Wage cases (欠薪) filed in the period: yuan owed and recovered, workers affected. The
    # workers follow the small-cell rule like members, and all three show only where the
    # row's requests do (see `wage_cells`): an amount is not a count of people, but it is
    # owed to people.
    Column("wage_owed", N_("欠薪金额（元）"), "amount"),
    Column("wage_recovered", N_("已追回（元）"), "amount"),
    Column("wage_workers", N_("欠薪涉及人数"), "count"),
)
SORT_KEYS = frozenset(c.key for c in COLUMNS)


# --- periods --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    first: str  # "YYYY-MM"
    last: str

    @property
    def months(self) -> list[str]:
        return figure_rows.months(self.first, self.last)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in China time, for the queries that read requests themselves."""
        start = datetime(int(self.first[:4]), int(self.first[5:]), 1, tzinfo=CHINA)
        after = figure_rows.shift_month(self.last, 1)
        return start, datetime(int(after[:4]), int(after[5:]), 1, tzinfo=CHINA)


def period_from(raw_first: str | None, raw_last: str | None, now: datetime) -> Period:
    """The months asked for (`from`, `to` as YYYY-MM); by default the last 12 months."""
    current = figure_rows.month_of(now)
    last = figure_rows.parse_month(raw_last) or current
    first = figure_rows.parse_month(raw_first) or figure_rows.shift_month(last, -(TREND_MONTHS - 1))
    if first > last:
        first, last = last, first
    if len(figure_rows.months(first, last)) > MAX_PERIOD_MONTHS:
        first = figure_rows.shift_month(last, -(MAX_PERIOD_MONTHS - 1))
    return Period(first, last)


def quick_periods(now: datetime) -> list[tuple[str, Period]]:
    """The periods offered as one-tap links: (label message id, period)."""
    current = figure_rows.month_of(now)
    quarter = figure_rows.quarter_of(current)
    previous = figure_rows.shift_month(quarter, -3)
    return [
        (N_("本月"), Period(current, current)),
        (N_("本季度"), Period(quarter, current)),
        (N_("上季度"), Period(previous, figure_rows.shift_month(quarter, -1))),
        (N_("近 12 个月"), Period(figure_rows.shift_month(current, -11), current)),
        (N_("今年"), Period(current[:4] + "-01", current)),
    ]


# --- tallies --------------------------------------------------------------------------------

@dataclass
class Tally:
    """Monthly rows summed: the request figures of a project, a month or a whole scope."""
    requests: int = 0
    filers_max: int = 0  # the largest monthly count of distinct filers: a lower bound
    filers_sum: int = 0  # their sum: an upper bound
    countable: int = 0
    done: int = 0
    with_due: int = 0
    on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    wage_cases: int = 0
    wage_owed: int = 0
    wage_recovered: int = 0
    wage_workers: int = 0
    people: int | None = None  # distinct filers, once known well enough (see `settle`)

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.filers_sum += other.filers_sum
        self.filers_max = max(self.filers_max, other.filers_max)
        self.countable += other.countable
        self.done += other.done
        self.with_due += other.with_due
        self.on_time += other.on_time
        self.rated += other.rated
        self.satisfied += other.satisfied
        self.wage_cases += other.wage_cases
        self.wage_owed += other.wage_owed
        self.wage_recovered += other.wage_recovered
        self.wage_workers += other.wage_workers

    @property
    def uncertain(self) -> bool:
        """Whether the bounds straddle K, so the filers must be counted one by one."""
        return self.filers_max < K <= self.filers_sum

    def settle(self, exact: int | None = None) -> None:
        # A lower bound serves wherever it settles the question: at or over K it shows the
        # cell; under K with the upper bound under K too, the cell is small either way.
        self.people = exact if exact is not None else self.filers_max


def _tally(row: Sequence[Any]) -> Tally:
    """From the columns requests, filers_max, filers_sum, countable … satisfied, wage_cases …
    wage_workers."""
    values = [int(v or 0) for v in row]
    return Tally(*values)


TALLY_SQL = ("COALESCE(SUM(fm.requests), 0) AS requests, COALESCE(MAX(fm.filers), 0) AS fmax, "
             "COALESCE(SUM(fm.filers), 0) AS fsum, COALESCE(SUM(fm.countable), 0) AS countable, "
             "COALESCE(SUM(fm.done), 0) AS done, COALESCE(SUM(fm.with_due), 0) AS with_due, "
             "COALESCE(SUM(fm.on_time), 0) AS on_time, COALESCE(SUM(fm.rated), 0) AS rated, "
             "COALESCE(SUM(fm.satisfied), 0) AS satisfied, "
             "COALESCE(SUM(fm.wage_cases), 0) AS wage_cases, "
             "COALESCE(SUM(fm.wage_owed), 0) AS wage_owed, "
             "COALESCE(SUM(fm.wage_recovered), 0) AS wage_recovered, "
             "COALESCE(SUM(fm.wage_workers), 0) AS wage_workers")

# Every project below the scope, with its current row and its months in the period summed.
TABLE_SQL = f"""
SELECT u.id AS id, u.name AS name, u.path AS path, pf.members AS members,
       pf.headcount AS headcount, pf.overdue AS overdue, pf.overdue_at AS overdue_at,
       {TALLY_SQL}
FROM union_node u
LEFT JOIN project_figures pf ON pf.project_id = u.id
LEFT JOIN figures_month fm ON fm.project_id = u.id AND fm.month >= ? AND fm.month <= ?
WHERE u.kind = 'project' AND u.path LIKE ?
GROUP BY u.id, u.name, u.path, pf.members, pf.headcount, pf.overdue, pf.overdue_at
ORDER BY u.path
"""  # noqa: S608

TREND_SQL = f"""
SELECT fm.month AS month, {TALLY_SQL}
FROM figures_month fm
WHERE fm.project_id IN (SELECT id FROM union_node WHERE path LIKE ? AND kind = 'project')
  AND fm.month >= ? AND fm.month <= ?
GROUP BY fm.month
"""  # noqa: S608

PROJECT_TREND_SQL = f"""
SELECT fm.month AS month, {TALLY_SQL} FROM figures_month fm
WHERE fm.project_id = ? AND fm.month >= ? AND fm.month <= ? GROUP BY fm.month
"""  # noqa: S608
PROJECT_PERIOD_SQL = f"""
SELECT {TALLY_SQL} FROM figures_month fm
WHERE fm.project_id = ? AND fm.month >= ? AND fm.month <= ?
"""  # noqa: S608

# Only ever for the few cells whose bounds straddle K: then each project-month holds
# fewer than K filer rows.
DISTINCT_BY_PROJECT_SQL = """
SELECT project_id AS pid, COUNT(DISTINCT member_id) AS n FROM figures_filer
WHERE project_id IN ({ids}) AND month >= ? AND month <= ? GROUP BY project_id
"""
DISTINCT_IN_SCOPE_SQL = """
SELECT COUNT(DISTINCT member_id) AS n FROM figures_filer
WHERE project_id IN (SELECT id FROM union_node WHERE path LIKE ? AND kind = 'project')
  AND month >= ? AND month <= ?
"""


async def _distinct_in_scope(path: str, first: str, last: str) -> int:
    rows = await fetch(DISTINCT_IN_SCOPE_SQL, path + "%", first, last)
    return int(rows[0][0])


# --- what a reader sees ---------------------------------------------------------------------

@dataclass
class RequestCells:
    requests: Count
    resolved: float | None
    on_time: float | None
    satisfaction: float | None


def _request_cells(share: Callable[[int, int], float | None], t: Tally,
                   shown: Count) -> RequestCells:
    """`share` is `privacy.share_rule(viewer)`."""
    if shown == privacy.SMALL:
        return RequestCells(shown, None, None, None)
    return RequestCells(shown, share(t.done, t.countable), share(t.on_time, t.with_due),
                        share(t.satisfied, t.rated))


def _coverage(members: Count, headcount: Count | None) -> float | None:
    if not isinstance(members, int) or not isinstance(headcount, int) or headcount <= 0:
        return None
    return members / headcount


def display(kind: Kind, value: Count | float | str | None) -> str:
    """A cell as the page prints it. Formatted here, not by a template macro per cell: a
    page of the table is 500 cells, and a Jinja macro call per cell was most of its cost
    (bench/province.py profile province)."""
    if value is None:
        return "—"
    if kind == "rate":
        return f"{float(value) * 100:.1f}%"
    if kind == "amount" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


@dataclass
class Row:
    project_id: int | None  # None for the totals row
    cells: dict[str, Count | float | str | None]
    parents: str = ""  # the company and branch, for the reader to place the project

    def __getitem__(self, key: str) -> Count | float | str | None:
        return self.cells.get(key)

    def shown(self) -> list[tuple[str, str]]:
        """(column key, text) of every column after the name, in order."""
        cells = self.cells
        return [(c.key, display(c.kind, cells.get(c.key))) for c in COLUMNS[1:]]


@dataclass
class TrendRow:
    month: str
    requests: Count
    resolved: float | None
    on_time: float | None
    satisfaction: float | None
    bar: int = 0  # the requests as a share of the busiest month, for a bar (0–100)
    # 入会率 at the month's end (so far, for this month): members ÷ the headcount in force
    coverage: float | None = None
    # Wage cases filed that month: amounts owed and recovered, workers (`wage_cells` rule).
    wage: dict[str, Count | None] = field(default_factory=dict)


@dataclass
class QuarterFigures:
    label: str  # "2026-Q3"
    months: tuple[str, str]
    cells: RequestCells
    partial: bool  # the quarter is still under way
    wage: dict[str, Count | None] = field(default_factory=dict)


@dataclass
class Comparison:
    current: QuarterFigures
    previous: QuarterFigures

    def change(self, key: str) -> float | None:
        """Percentage points between the two quarters' rates (None where either is hidden)."""
        a, b = getattr(self.current.cells, key), getattr(self.previous.cells, key)
        if a is None or b is None:
            return None
        return float(a) - float(b)


@dataclass
class Table:
    scope: UnionNode
    period: Period
    rows: list[Row]
    total: Row
    trend: list[TrendRow]
    quarters: Comparison
    sort: str
    descending: bool
    overdue_at: datetime | None
    suppressed: bool  # whether the reader gets the "< 5" rules (explained on the page)
    quick: list[tuple[str, Period]] = field(default_factory=list)
    page: int = 1
    projects: int = 0  # rows over all pages
    made_at: datetime | None = None  # when the figures were read
    made: float = 0.0  # the memo snapshot's time.monotonic(), for pages rendered from it


def sees_table(officer: Officer) -> bool:
    """The upper table is for unions above the projects (and the admin): a project's own
    officers see their project's figures, not their neighbours'."""
    return officer.role == Role.ADMIN or (officer.role == Role.UPPER
                                          and not officer.union.is_project)


def _scope_path(officer: Officer) -> str:
    return figures.scope_of(officer)


async def _nodes(path: str) -> dict[int, tuple[str, str, str]]:
    rows = await fetch("SELECT id AS id, name AS name, kind AS kind, path AS path "
                       "FROM union_node WHERE path LIKE ? AND kind <> 'project'", path + "%")
    return {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}


def _parents(path: str, scope_path: str, nodes: dict[int, tuple[str, str, str]],
             memo: dict[str, str] | None = None) -> str:
    """The company and branch above a project, below the reader's own union (`memo`: by
    the parent's path, which the projects of a branch share)."""
    parent = path[:path.rstrip("/").rfind("/") + 1]
    if memo is not None and parent in memo:
        return memo[parent]
    names = []
    for part in parent.strip("/").split("/"):
        node = nodes.get(int(part))
        if node and node[1] in (NodeKind.COMPANY, NodeKind.BRANCH) and (
                len(node[2]) > len(scope_path)):
            names.append(node[0])
    text = " · ".join(names)
    if memo is not None:
        memo[parent] = text
    return text


def _overdue_at(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite hands back the stored text
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


@dataclass
class Assembled:
    """The table before sorting and paging: what a memo may keep for a few seconds."""
    rows: list[Row]  # tree order
    total: Row
    trend: list[TrendRow]
    quarters: Comparison
    overdue_at: datetime | None
    made_at: datetime
    made: float  # time.monotonic() when assembled


class Memo:
    """Assembled tables per (scope, reader inside or outside the union, period), for
    `max_age` seconds: one process serves the same province table to everyone at the
    province union, and assembling it (two aggregates over 500 projects × 12 months, 500
    rows through the privacy rules) is most of the page's cost, in Python and in the
    database alike. The page says when it was assembled. Owned by the app (one per
    process and database); bounded."""

    MAX_ENTRIES = 64
    MAX_PAGES = 256
    # A snapshot past `max_age` still serves, up to this many times `max_age`, while one task
    # assembles the next: no reader waits for an assembly unless there is no snapshot at all
    # (twenty readers queued behind each assembly were most of the p95, bench/README.md).
    STALE_FACTOR = 3

    def __init__(self) -> None:
        self._entries: dict[tuple[str, bool, str, str], Assembled] = {}
        self._locks: dict[tuple[str, bool, str, str], asyncio.Lock] = {}
        self._tasks: dict[tuple[str, bool, str, str], asyncio.Task[None]] = {}
        self.closed = coverage.ClosedMonths()  # members at past month ends, for the trend
        # Rendered views of a snapshot (page, sort, language …), each with the snapshot's
        # `made`: valid exactly as long as the snapshot they were rendered from.
        self._pages: dict[tuple[Any, ...], tuple[float, str]] = {}

    def page(self, key: tuple[str, bool, str, str], view: tuple[Any, ...],
             max_age: float) -> str | None:
        """The view rendered from the current snapshot of `key`, if that may still serve."""
        found = self.usable(key, max_age)
        rendered = self._pages.get((key, view))
        if found is None or rendered is None or rendered[0] != found.made:
            return None
        return rendered[1]

    def keep_page(self, key: tuple[str, bool, str, str], view: tuple[Any, ...], made: float,
                  html: str) -> None:
        if len(self._pages) >= self.MAX_PAGES:
            self._pages.clear()
        self._pages[(key, view)] = (made, html)

    def get(self, key: tuple[str, bool, str, str], max_age: float) -> Assembled | None:
        found = self._entries.get(key)
        if found is None or time.monotonic() - found.made > max_age:
            return None
        return found

    def usable(self, key: tuple[str, bool, str, str], max_age: float) -> Assembled | None:
        """The snapshot if it may still serve (see STALE_FACTOR); `refresh` renews it."""
        found = self._entries.get(key)
        if found is None or time.monotonic() - found.made > max_age * self.STALE_FACTOR:
            return None
        return found

    def refresh(self, key: tuple[str, bool, str, str], max_age: float,
                assemble: Callable[[], Awaitable[Assembled]]) -> None:
        """Start assembling the next snapshot in a task of its own when this one is past
        `max_age` and nobody is assembling it yet."""
        found = self._entries.get(key)
        if found is None or time.monotonic() - found.made <= max_age:
            return
        lock = self.lock(key)
        if lock.locked() or key in self._tasks:
            return
        self._tasks[key] = asyncio.create_task(self._refresh(key, lock, assemble))

    async def _refresh(self, key: tuple[str, bool, str, str], lock: asyncio.Lock,
                       assemble: Callable[[], Awaitable[Assembled]]) -> None:
        try:
            async with lock:
                self.put(key, await assemble())
        except Exception:  # the next reader past max_age tries again; until then it serves
            log.exception("assembling the upper table failed")
        finally:
            self._tasks.pop(key, None)

    async def settle(self) -> None:
        """Wait for the assemblies and counts under way (tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.closed.settle()

    def put(self, key: tuple[str, bool, str, str], value: Assembled) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
            self._locks.clear()
        self._entries[key] = value

    def clear(self) -> None:
        """Forget every snapshot and page (not the past month ends' counts)."""
        self._entries.clear()
        self._pages.clear()

    def lock(self, key: tuple[str, bool, str, str]) -> asyncio.Lock:
        """Held while a snapshot of `key` is assembled: twenty readers arriving as it expires
        wait for one assembly instead of making twenty (they all then read its result)."""
        return self._locks.setdefault(key, asyncio.Lock())


async def table(viewer: Officer, period: Period, now: datetime, sort: str = "",
                descending: bool = False, page: int = 1,
                page_size: int | None = PAGE_SIZE, *, memo: Memo | None = None,
                max_age: float = 0) -> Table:
    """The table of every project below `viewer`'s union, sorted, cut to `page` (all rows
    when `page_size` is None); from `memo` when it holds one younger than `max_age`."""
    key = memo_key(viewer, period)
    outside = key[1]
    if memo is not None and max_age > 0:
        assembled = memo.usable(key, max_age)
        if assembled is None:
            async with memo.lock(key):
                assembled = memo.usable(key, max_age)
                if assembled is None:
                    assembled = await _assemble(viewer, period, now, memo.closed)
                    memo.put(key, assembled)
        else:
            refresh(viewer, period, now, memo, max_age)
    else:
        assembled = await _assemble(viewer, period, now, memo.closed if memo else None)
    sort = sort if sort in SORT_KEYS else ""
    ordered = sort_rows(assembled.rows, sort, descending)
    if page_size is not None:
        page = max(1, min(page, (len(ordered) + page_size - 1) // page_size or 1))
        ordered = ordered[(page - 1) * page_size:page * page_size]
    return Table(viewer.union, period, ordered, assembled.total, assembled.trend,
                 assembled.quarters, sort, descending, assembled.overdue_at, outside,
                 quick_periods(now), page, len(assembled.rows), assembled.made_at,
                 assembled.made)


def refresh(viewer: Officer, period: Period, now: datetime, memo: Memo,
            max_age: float) -> None:
    """Renew `viewer`'s snapshot in the background if it is past `max_age` (a page served
    from the memo calls this too: it never reads the table itself)."""
    memo.refresh(memo_key(viewer, period), max_age,
                 lambda: _assemble(viewer, period, now, memo.closed))


def memo_key(viewer: Officer, period: Period) -> tuple[str, bool, str, str]:
    """What a snapshot of the table depends on: the scope, the privacy rule, the months."""
    return (_scope_path(viewer), privacy.is_outside(viewer), period.first, period.last)


async def _assemble(viewer: Officer, period: Period, now: datetime,
                    closed: coverage.ClosedMonths | None = None) -> Assembled:
    path = _scope_path(viewer)
    raw = await fetch(TABLE_SQL, period.first, period.last, path + "%")
    nodes = await _nodes(path)
    tallies: dict[int, Tally] = {}
    base: dict[int, tuple[str, str, int, int | None, int]] = {}
    overdue_at: datetime | None = None
    for r in raw:
        pid = int(r[0])
        base[pid] = (str(r[1]), str(r[2]), int(r[3] or 0),
                     None if r[4] is None else int(r[4]), int(r[5] or 0))
        tallies[pid] = _tally(r[7:])
        seen = _overdue_at(r[6])
        if seen is not None and (overdue_at is None or seen < overdue_at):
            overdue_at = seen
    await _settle_projects(tallies, period)
    total_tally = Tally()
    for t in tallies.values():
        total_tally.add(t)
    # The scope's distinct filers: at least the most of any one project.
    total_tally.filers_max = max([t.people or 0 for t in tallies.values()] or [0])
    total_tally.settle(await _distinct_in_scope(path, period.first, period.last)
                       if total_tally.uncertain else None)

    outside = privacy.is_outside(viewer)
    members = privacy.cells_for(viewer, {p: (b[2], b[2]) for p, b in base.items()})
    heads = privacy.cells_for(viewer, {p: (b[3], b[3]) for p, b in base.items()
                                       if b[3] is not None})
    requests = privacy.cells_for(viewer, {p: (t.requests, t.people or 0)
                                          for p, t in tallies.items()})
    overdue = privacy.cells_for(viewer, {p: (b[4], b[4]) for p, b in base.items()})
    wage_workers = privacy.cells_for(viewer, {p: (t.wage_workers, t.wage_workers)
                                              for p, t in tallies.items()})
    rows = []
    share = privacy.share_rule(viewer)
    memo: dict[str, str] = {}
    for pid, (name, node_path, _m, _h, _o) in base.items():
        cells = _request_cells(share, tallies[pid], requests[pid])
        rows.append(Row(pid, {
            "name": name, "members": members[pid], "headcount": heads.get(pid),
            "coverage": _coverage(members[pid], heads.get(pid)),
            "requests": cells.requests, "resolved": cells.resolved, "on_time": cells.on_time,
            "satisfaction": cells.satisfaction, "overdue": overdue[pid],
            **wage_cells(tallies[pid], wage_workers[pid], cells.requests),
        }, _parents(node_path, path, nodes, memo)))
    total_members = sum(b[2] for b in base.values())
    entered = [b[3] for b in base.values() if b[3] is not None]
    total_head: Count | None = privacy.count_for(viewer, sum(entered)) if entered else None
    shown_members = privacy.count_for(viewer, total_members)
    # The site total is over the projects that entered one: 入会率 over those projects only.
    covered_members = sum(b[2] for b in base.values() if b[3] is not None)
    total_cells = _request_cells(share, total_tally, privacy.SMALL if outside and (
        0 < (total_tally.people or 0) < K) else total_tally.requests)
    total = Row(None, {
        "name": "",  # "合计（n 个项目）", in the reader's language where it is shown
        "members": shown_members, "headcount": total_head,
        "coverage": _coverage(privacy.count_for(viewer, covered_members), total_head),
        "requests": total_cells.requests, "resolved": total_cells.resolved,
        "on_time": total_cells.on_time, "satisfaction": total_cells.satisfaction,
        "overdue": privacy.count_for(viewer, sum(b[4] for b in base.values())),
        **wage_cells(total_tally, privacy.count_for(viewer, total_tally.wage_workers),
                     total_cells.requests),
    })
    # Tree order: by company and branch, then name (the path's ids are not in name order).
    rows.sort(key=lambda r: (r.parents, str(r.cells["name"])))
    trend_rows, quarters = await trend(viewer, path, now, closed=closed)
    return Assembled(rows, total, trend_rows, quarters, overdue_at, now, time.monotonic())


def wage_cells(t: Tally, workers: Count, requests: Count) -> dict[str, Count | None]:
    """A row's wage cells: shown only where the row's requests are (filed by at least K
    workers: one filer's case for "8 workers" is still one person's complaint), and the
    amounts only where the workers behind them are shown too. A hidden cell hides its
    amounts, so a total minus the shown rows gives away only a sum over at least K
    people."""
    if not isinstance(requests, int):
        return {"wage_owed": None, "wage_recovered": None, "wage_workers": None}
    shown = isinstance(workers, int)
    return {"wage_owed": t.wage_owed if shown else None,
            "wage_recovered": t.wage_recovered if shown else None,
            "wage_workers": workers}


async def _settle_projects(tallies: dict[int, Tally], period: Period) -> None:
    unsure = [pid for pid, t in tallies.items() if t.uncertain]
    exact: dict[int, int] = {}
    if unsure:
        rows = await fetch(DISTINCT_BY_PROJECT_SQL.format(ids=id_list(unsure)), period.first,
                           period.last)
        exact = {int(r[0]): int(r[1]) for r in rows}
    for pid, t in tallies.items():
        t.settle(exact.get(pid, 0) if pid in unsure else None)


# --- sorting --------------------------------------------------------------------------------

def _cell_sort_key(kind: Kind, value: Count | float | str | None) -> tuple[Any, ...] | None:
    """None: no value to rank (a rate not shown); such rows go last either way."""
    if kind == "text":
        return (str(value),)
    if kind in ("rate", "amount"):
        return None if value is None else (float(value),)
    if value is None:
        return None
    return privacy.count_rank(value)  # type: ignore[arg-type]


def sort_rows(rows: list[Row], sort: str, descending: bool) -> list[Row]:
    """Rows in the order asked for; ties (and the default) in tree order, as given."""
    if not sort:
        return list(rows)
    kind = next(c.kind for c in COLUMNS if c.key == sort)
    keyed = [(r, _cell_sort_key(kind, r[sort])) for r in rows]
    ranked = [(r, k) for r, k in keyed if k is not None]
    # Stable: equal keys keep the tree order, in either direction.
    ranked.sort(key=lambda rk: rk[1], reverse=descending)
    return [r for r, _ in ranked] + [r for r, k in keyed if k is None]


# --- trend and quarters ---------------------------------------------------------------------

async def trend(viewer: privacy.Viewer, path: str, now: datetime, *,
                project_id: int | None = None, closed: coverage.ClosedMonths | None = None
                ) -> tuple[list[TrendRow], Comparison]:
    """The last 12 months of a scope (or of one project), and this quarter against the
    last; both from the monthly rows."""
    last = figure_rows.month_of(now)
    first = figure_rows.shift_month(last, -(TREND_MONTHS - 1))
    if project_id is None:
        rows = await fetch(TREND_SQL, path + "%", first, last)
    else:
        rows = await fetch(PROJECT_TREND_SQL, project_id, first, last)
    by_month = {str(r[0]): _tally(r[1:]) for r in rows}
    month_list = figure_rows.months(first, last)
    tallies = {m: by_month.get(m, Tally()) for m in month_list}
    for month, t in tallies.items():
        exact = None
        if t.uncertain:
            exact = await (_distinct_in_scope(path, month, month) if project_id is None
                           else _distinct_in_project(project_id, month, month))
        t.settle(exact)
    shown = privacy.cells_for(viewer, {m: (t.requests, t.people or 0)
                                       for m, t in tallies.items()})
    wage_workers = privacy.cells_for(viewer, {m: (t.wage_workers, t.wage_workers)
                                              for m, t in tallies.items()})
    covered = await (coverage.monthly(month_list, path=path, now=now, closed=closed)
                     if project_id is None
                     else coverage.monthly(month_list, project_id=project_id, now=now))
    busiest = max([t.requests for t in tallies.values()] or [0])
    share = privacy.share_rule(viewer)
    out = []
    for month in reversed(month_list):
        t = tallies[month]
        cells = _request_cells(share, t, shown[month])
        bar = round(100 * t.requests / busiest) if busiest and isinstance(
            cells.requests, int) else 0
        c = covered.get(month)
        rate = None if c is None else _coverage(privacy.count_for(viewer, c.members),
                                                privacy.count_for(viewer, c.headcount))
        out.append(TrendRow(month, cells.requests, cells.resolved, cells.on_time,
                            cells.satisfaction, bar, rate,
                            wage_cells(t, wage_workers[month], cells.requests)))
    current = figure_rows.quarter_of(last)
    previous = figure_rows.shift_month(current, -3)
    quarters = []
    for start, partial in ((current, last < figure_rows.shift_month(current, 2)),
                           (previous, False)):
        end = figure_rows.shift_month(start, 2)
        q = Tally()
        for month in figure_rows.months(start, min(end, last)):
            q.add(tallies.get(month, Tally()))
        exact = None
        if q.uncertain:
            exact = await (_distinct_in_scope(path, start, end) if project_id is None
                           else _distinct_in_project(project_id, start, end))
        q.settle(exact)
        small = 0 < (q.people or 0) < K and privacy.is_outside(viewer)
        cells = _request_cells(share, q, privacy.SMALL if small else q.requests)
        quarters.append(QuarterFigures(
            f"{start[:4]}-Q{(int(start[5:]) - 1) // 3 + 1}", (start, end), cells, partial,
            wage_cells(q, privacy.count_for(viewer, q.wage_workers), cells.requests)))
    return out, Comparison(quarters[0], quarters[1])


async def _distinct_in_project(project_id: int, first: str, last: str) -> int:
    rows = await fetch(DISTINCT_BY_PROJECT_SQL.format(ids=id_list([project_id])), first, last)
    return int(rows[0][1]) if rows else 0


# --- one project ----------------------------------------------------------------------------

@dataclass
class TeamRow:
    name: str
    members: Count
    headcount: Count | None
    coverage: float | None


@dataclass
class ProjectView:
    project: UnionNode
    parents: str
    row: Row
    headcount_as_of: date | None
    teams: list[TeamRow]
    trend: list[TrendRow]
    quarters: Comparison
    period: Period
    figures: figures.FiguresView
    overdue_at: datetime | None


async def project_in_scope(officer: Officer, project_id: int) -> UnionNode | None:
    """The project if it lies below the officer's union, else None (the route answers 404,
    as for a project that does not exist)."""
    if not 0 < project_id < 2**31:
        return None
    query = UnionNode.filter(id=project_id, kind=NodeKind.PROJECT)
    if officer.role != Role.ADMIN:
        query = query.filter(path__startswith=officer.union.path)
    return await query.first()


async def project_view(viewer: Officer, project: UnionNode, period: Period,
                       now: datetime) -> ProjectView:
    pf = await ProjectFigures.get_or_none(project_id=project.id)
    rows = await fetch(PROJECT_PERIOD_SQL, project.id, period.first, period.last)
    t = _tally(rows[0]) if rows else Tally()
    t.settle(await _distinct_in_project(project.id, period.first, period.last)
             if t.uncertain else None)
    members = pf.members if pf else 0
    shown_members = privacy.count_for(viewer, members)
    head = pf.headcount if pf else None
    shown_head = None if head is None else privacy.count_for(viewer, head)
    small = privacy.is_outside(viewer) and 0 < (t.people or 0) < K
    cells = _request_cells(privacy.share_rule(viewer), t, privacy.SMALL if small else t.requests)
    overdue = pf.overdue if pf else 0
    row = Row(project.id, {
        "name": project.name, "members": shown_members, "headcount": shown_head,
        "coverage": _coverage(shown_members, shown_head), "requests": cells.requests,
        "resolved": cells.resolved, "on_time": cells.on_time,
        "satisfaction": cells.satisfaction, "overdue": privacy.count_for(viewer, overdue),
        **wage_cells(t, privacy.count_for(viewer, t.wage_workers), cells.requests),
    })
    cov = await coverage.of_project(project)
    team_members = privacy.cells_for(viewer, {t.team_id: (t.members, t.members)
                                              for t in cov.teams})
    team_heads = privacy.cells_for(viewer, {t.team_id: (t.headcount, t.headcount)
                                            for t in cov.teams if t.headcount is not None})
    teams = [TeamRow(t.name, team_members[t.team_id], team_heads.get(t.team_id),
                     _coverage(team_members[t.team_id], team_heads.get(t.team_id)))
             for t in cov.teams]
    trend_rows, quarters = await trend(viewer, project.path, now, project_id=project.id)
    start, end = period.bounds()
    breakdown = figures.view(viewer, await figures.compute(project.path, start, end, now,
                                                           loads=False))
    above = [int(part) for part in project.path.strip("/").split("/")[:-1]]
    nodes = {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in await fetch(
        f"SELECT id AS id, name AS name, kind AS kind, path AS path FROM union_node "  # noqa: S608
        f"WHERE id IN ({id_list(above or [0])})")}
    return ProjectView(project, _parents(project.path, _scope_path(viewer), nodes), row,
                       pf.headcount_as_of if pf else None, teams, trend_rows, quarters, period,
                       breakdown, pf.overdue_at if pf else None)


# --- Excel ----------------------------------------------------------------------------------

def _write_cell(sheet: Any, row: int, col: int, kind: Kind, value: Any,
                percent: Any) -> None:
    if value is None:
        sheet.write_string(row, col, "—")
    elif kind == "rate":
        sheet.write_number(row, col, float(value), percent)
    elif isinstance(value, int):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))  # names and "< 5": text, never a formula


WAGE_KEYS = ("wage_owed", "wage_recovered", "wage_workers")


def _wage_values(wage: dict[str, Count | None]) -> list[tuple[Kind, Count | None]]:
    return [("amount" if key != "wage_workers" else "count", wage.get(key))
            for key in WAGE_KEYS]


def _workbook(t: Table, title: str, notes: list[str], headers: list[str],
              trend_headers: list[str], quarter_headers: list[str], total_label: str) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    percent = book.add_format({"num_format": "0.0%"})
    sheet = book.add_worksheet(gettext("项目"))
    sheet.write_string(0, 0, title, bold)
    for i, note in enumerate(notes, start=1):
        sheet.write_string(i, 0, note)
    top = len(notes) + 2
    columns = [*COLUMNS[:1], Column("parents", N_("所属"), "text"), *COLUMNS[1:]]
    for col, header in enumerate(headers):
        sheet.write_string(top, col, header, bold)
    for offset, row in enumerate([*t.rows, t.total], start=1):
        for col, column in enumerate(columns):
            value = row.parents if column.key == "parents" else row[column.key]
            if row is t.total and column.key == "name":
                value = total_label
            _write_cell(sheet, top + offset, col, column.kind, value, percent)
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, len(columns) - 1, 11)
    sheet.freeze_panes(top + 1, 1)
    trend_sheet = book.add_worksheet(gettext("月度趋势"))
    for col, header in enumerate(trend_headers):
        trend_sheet.write_string(0, col, header, bold)
    for i, tr in enumerate(t.trend, start=1):
        trend_sheet.write_string(i, 0, tr.month)
        for col, (kind, value) in enumerate(((("count"), tr.requests), ("rate", tr.resolved),
                                             ("rate", tr.on_time), ("rate", tr.satisfaction),
                                             ("rate", tr.coverage), *_wage_values(tr.wage)),
                                            start=1):
            _write_cell(trend_sheet, i, col, kind, value, percent)  # type: ignore[arg-type]
    trend_sheet.set_column(0, len(trend_headers) - 1, 12)
    q_sheet = book.add_worksheet(gettext("季度对比"))
    for col, header in enumerate(quarter_headers):
        q_sheet.write_string(0, col, header, bold)
    for i, q in enumerate((t.quarters.current, t.quarters.previous), start=1):
        q_sheet.write_string(i, 0, q.label)
        for col, (kind, value) in enumerate((("count", q.cells.requests),
                                             ("rate", q.cells.resolved),
                                             ("rate", q.cells.on_time),
                                             ("rate", q.cells.satisfaction),
                                             *_wage_values(q.wage)), start=1):
            _write_cell(q_sheet, i, col, kind, value, percent)  # type: ignore[arg-type]
    q_sheet.set_column(0, len(quarter_headers) - 1, 12)
    book.close()
    return buffer.getvalue()


async def workbook(t: Table) -> bytes:
    """The table as the reader sees it (the same cells, "< 5" and all), its trend and the
    quarters, with the rules written above the table."""
    title = f"{t.scope.name} · {gettext('各项目统计')} · {t.period.first} — {t.period.last}"
    notes = [gettext("会员、在场人数为当前数；诉求按提交月份统计，办结率等为截至导出时的情况。")]
    if t.suppressed:
        notes.append(gettext("不足 5 人的格子显示为“< 5”，为防推算，另有个别格子显示为“≥ 5”。"))
    if t.overdue_at is not None:
        notes.append(gettext("超时未办统计于 %(time)s") % {
            "time": t.overdue_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")})
    headers = [gettext(COLUMNS[0].label), gettext("所属"),
               *(gettext(c.label) for c in COLUMNS[1:])]
    wage_headers = [gettext(c.label) for c in COLUMNS if c.key in WAGE_KEYS]
    trend_headers = [gettext("月份"), gettext("诉求"), gettext("办结率"), gettext("按时办结率"),
                     gettext("满意率"), gettext("入会率（月底）"), *wage_headers]
    quarter_headers = [gettext("季度"), *trend_headers[1:5], *wage_headers]
    return await run_heavy(_workbook, t, title, notes, headers, trend_headers, quarter_headers,
                           total_label(t))


def total_label(t: Table) -> str:
    return gettext("合计（%(n)d 个项目）") % {"n": t.projects}


def xlsx_filename(t: Table) -> str:
    return f"lianxin-projects-{t.period.first}-{t.period.last}.xlsx"
