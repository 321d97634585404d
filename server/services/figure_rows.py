"""The summary rows behind the upper union's figures: what they hold, how to read them, and
how to rebuild them from scratch.

Per project and month (China time) `figures_month` holds the requests filed that month as
they stand now (how many, by how many distinct workers, how many resolved, on time, rated,
satisfied; wage cases with yuan owed and recovered and workers affected); per project
`project_figures` holds the active members, the newest site headcount, and the open
requests past their deadline. Database triggers (migrations 0015 and 0018)
change the first two in the transaction of every insert, update or delete of a request or a
member, whatever code makes it (the lifecycle, a batch sync, a transfer, a test factory,
bulk loading): the numbers cannot drift from the rows the way a hook forgotten on one code
path would make them. "Overdue" depends on the clock as much as on events, so the periodic
deadline job recounts it (`refresh_overdue`) and pages show when it was counted.

`rebuild` recomputes everything from the requests, members and headcounts
(`lianxin figures rebuild`); tests/test_upper_figures.py checks that the rows the triggers
keep equal the rows it rebuilds after a random workload.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connections

from server.db import PRIMARY, fetch, numbered_placeholders, transaction
from server.labels import CHINA
from server.models.requests import OPEN_STATUSES

# The month a request counts in, in China time (UTC+8 all year). Same rule as the triggers.
MONTH_SQL = {
    "sqlite": "strftime('%Y-%m', {r}.created_at, '+8 hours')",
    "postgres": "to_char({r}.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}
# What one request adds to its month's row, column by column (0 or 1, and for a wage case
# its yuan and its workers). The same rules as figures.PERIOD_SQL and figures.WAGE_SQL, so a
# project's row and the chair's own figures agree; the triggers (migration 0018) hold a
# frozen copy.
# A duplicate (duplicate_of set) is its master's case: counting it would count it twice.
WAGE_CASE = ("{r}.category = 'wages' AND {r}.status <> 'declined' "
             "AND {r}.duplicate_of_id IS NULL")
PARTS = {
    "countable": "CASE WHEN {r}.status <> 'declined' THEN 1 ELSE 0 END",
    "done": "CASE WHEN {r}.status IN ('resolved', 'closed') THEN 1 ELSE 0 END",
    "with_due": "CASE WHEN {r}.resolved_on_time IS NULL THEN 0 ELSE 1 END",
    "on_time": "CASE WHEN {r}.resolved_on_time THEN 1 ELSE 0 END",
    "rated": "CASE WHEN {r}.rating IS NULL THEN 0 ELSE 1 END",
    "satisfied": "CASE WHEN {r}.rating >= 4 THEN 1 ELSE 0 END",
    # Wage cases (欠薪): a case without a count of workers is its filer alone.
    "wage_cases": f"CASE WHEN {WAGE_CASE} THEN 1 ELSE 0 END",
    "wage_owed": f"CASE WHEN {WAGE_CASE} THEN COALESCE({{r}}.amount_owed, 0) ELSE 0 END",
    "wage_recovered": f"CASE WHEN {WAGE_CASE} THEN COALESCE({{r}}.amount_recovered, 0) ELSE 0 END",
    "wage_workers": f"CASE WHEN {WAGE_CASE} THEN COALESCE({{r}}.workers_affected, 1) ELSE 0 END",
}
MONTH_COLUMNS = ("requests", "filers", *PARTS)
OPEN_SQL = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
# How stale the overdue counts may get before the periodic job counts them again.
OVERDUE_REFRESH = timedelta(minutes=5)


def dialect() -> str:
    return str(get_connections().get(PRIMARY).capabilities.dialect)


# --- months ---------------------------------------------------------------------------------

def month_of(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m")


def shift_month(month: str, n: int) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    index = year * 12 + mon - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included."""
    out = [first]
    while out[-1] < last:
        out.append(shift_month(out[-1], 1))
    return out


def quarter_of(month: str) -> str:
    """The first month of `month`'s quarter."""
    mon = int(month[5:7])
    return f"{month[:4]}-{(mon - 1) // 3 * 3 + 1:02d}"


def parse_month(raw: str | None) -> str | None:
    """'YYYY-MM' from a form (the month input's value), or None when it is not one."""
    if not raw or len(raw) != 7 or raw[4] != "-":
        return None
    try:
        parsed = date(int(raw[:4]), int(raw[5:7]), 1)
    except ValueError:
        return None
    return raw if 2000 <= parsed.year <= 2999 else None


def today_china(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(CHINA).date()


# Every project union has its row (a project without members yet has none from the triggers).
# (ON CONFLICT: a member's trigger may add the same row meanwhile.)
ENSURE_ROWS = ("INSERT INTO project_figures (project_id, members, overdue) SELECT u.id, 0, 0 "
               "FROM union_node u WHERE u.kind = 'project' AND NOT EXISTS "
               "(SELECT 1 FROM project_figures p WHERE p.project_id = u.id) "
               "ON CONFLICT (project_id) DO NOTHING")
LATEST_HEADCOUNT = (
    "(SELECT h.{col} FROM headcount h WHERE h.project_id = project_figures.project_id "
    "AND h.team_id IS NULL ORDER BY h.as_of DESC, h.id DESC LIMIT 1)")
SET_HEADCOUNT = (f"headcount = {LATEST_HEADCOUNT.format(col='count')}, "
                 f"headcount_as_of = {LATEST_HEADCOUNT.format(col='as_of')}")


async def set_site_headcount(conn: BaseDBAsyncClient, project_id: int) -> None:
    """Copy the project's newest site headcount into its row (inside the transaction
    that added the entry)."""
    await fetch("INSERT INTO project_figures (project_id, members, overdue) VALUES (?, 0, 0) "
                "ON CONFLICT (project_id) DO NOTHING", project_id, conn=conn)
    await fetch(f"UPDATE project_figures SET {SET_HEADCOUNT} WHERE project_id = ?", project_id,  # noqa: S608
                conn=conn)


# --- rebuilding -----------------------------------------------------------------------------

def rebuild_sql(db: str) -> list[str]:
    month = MONTH_SQL[db].format(r="r")
    names = list(PARTS)
    sums = ", ".join(f"SUM({PARTS[n].format(r='r')})" for n in names)
    return [
        "DELETE FROM figures_filer",
        "DELETE FROM figures_month",
        f"INSERT INTO figures_month (project_id, month, requests, filers, {', '.join(names)}) "  # noqa: S608
        f"SELECT r.project_id, {month}, COUNT(*), COUNT(DISTINCT r.member_id), {sums} "
        f"FROM service_request r GROUP BY r.project_id, {month}",
        f"INSERT INTO figures_filer (project_id, month, member_id, requests) "  # noqa: S608
        f"SELECT r.project_id, {month}, r.member_id, COUNT(*) FROM service_request r "
        f"GROUP BY r.project_id, {month}, r.member_id",
        ENSURE_ROWS,
        "UPDATE project_figures SET members = (SELECT COUNT(*) FROM member m WHERE "  # noqa: S608
        f"m.project_id = project_figures.project_id AND m.status = 'active'), {SET_HEADCOUNT}",
    ]


@dataclass
class RebuildResult:
    months: int
    projects: int
    seconds: float


async def rebuild(now: datetime | None = None) -> RebuildResult:
    """Recompute every summary row from the requests, members and headcounts, in one
    transaction. On PostgreSQL the summary tables are locked first: a request filed
    meanwhile waits for the rebuild and is then added to the rebuilt rows by its trigger
    (its row is not yet visible to the rebuild, so it is counted once, after)."""
    import time

    started = time.perf_counter()
    db = dialect()
    async with transaction() as conn:
        if db == "postgres":
            await fetch("LOCK TABLE figures_month, figures_filer, project_figures "
                        "IN EXCLUSIVE MODE", conn=conn)
        # One statement at a time through `fetch`: SQLite's executescript would commit first.
        for sql in rebuild_sql(db):
            await fetch(sql, conn=conn)
        await _count_overdue(now or datetime.now(UTC), conn)
    count_months = await fetch("SELECT COUNT(*) AS n FROM figures_month")
    count_projects = await fetch("SELECT COUNT(*) AS n FROM project_figures")
    return RebuildResult(int(count_months[0][0]), int(count_projects[0][0]),
                         time.perf_counter() - started)


OVERDUE_SQL = ("SELECT project_id AS p, COUNT(*) AS n FROM service_request "  # noqa: S608
               f"WHERE status IN ({OPEN_SQL}) AND level_due_at < ? GROUP BY project_id")


async def _count_overdue(now: datetime, conn: BaseDBAsyncClient | None = None) -> None:
    """Count, then write: the count reads up to a year's open requests (half a second at
    province scale, more on a busy machine), and the rows it writes are the ones every
    enrolment's trigger updates, so they are locked only for the short writing part."""
    counts = await fetch(OVERDUE_SQL, now, conn=conn)
    if conn is None:
        async with transaction() as own:
            await _write_overdue(own, now, counts)
    else:
        await _write_overdue(conn, now, counts)


async def _write_overdue(conn: BaseDBAsyncClient, now: datetime,
                         counts: list[tuple[object, ...]]) -> None:
    await fetch(ENSURE_ROWS, conn=conn)
    await fetch("UPDATE project_figures SET overdue = 0, overdue_at = ?", now, conn=conn)
    if counts:
        sql = "UPDATE project_figures SET overdue = ? WHERE project_id = ?"
        if conn.capabilities.dialect == "postgres":
            sql = numbered_placeholders(sql)
        await conn.execute_many(sql, [[int(str(n)), int(str(p))] for p, n in counts])


async def refresh_overdue(now: datetime | None = None) -> None:
    """Count each project's open requests past their deadline at `now`."""
    await _count_overdue(now or datetime.now(UTC))


async def refresh_overdue_if_stale(now: datetime) -> bool:
    """The periodic job's step: count again when the last count is older than
    OVERDUE_REFRESH (every server process runs the job; the check keeps them from all
    counting each minute, and two that do count at once write the same numbers)."""
    stale = await fetch("SELECT COUNT(*) AS n FROM project_figures WHERE overdue_at IS NULL "
                        "OR overdue_at < ?", now - OVERDUE_REFRESH)
    never = await fetch("SELECT COUNT(*) AS n FROM union_node u WHERE u.kind = 'project' AND "
                        "NOT EXISTS (SELECT 1 FROM project_figures p WHERE p.project_id = u.id)")
    if not int(stale[0][0]) and not int(never[0][0]):
        return False
    await refresh_overdue(now)
    return True
