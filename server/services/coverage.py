"""Coverage: the site headcount (在场人数) a chair copies from the labour real-name system, per
project and per team, and 入会率 = active members ÷ headcount.

Every entry is kept (`Headcount`, one row each, with the day it describes and who entered
it), so the history is there for a trend; the newest entry by that day counts. The site's
current value is also copied into its `ProjectFigures` row in the same transaction, which is
what the upper union's table reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tortoise.functions import Count

from server.db import fetch, transaction
from server.errors import DomainError
from server.i18n import gettext
from server.models import Member, MemberStatus, Officer, Team, UnionNode
from server.models.figures import Headcount, ProjectFigures
from server.services import audit, figure_rows

# The largest construction sites hold a few thousand workers at once; a number beyond this is
# a typing slip (an extra zero, an ID pasted in the wrong box), not a site.
MAX_HEADCOUNT = 100_000
# How far back an entry may be dated: the real-name system's figure of some past day, to
# fill in the history; not a date from another decade.
MAX_BACKDATE = timedelta(days=366)
HISTORY_SHOWN = 30
log = logging.getLogger(__name__)
_SEPARATORS = re.compile(r"[\s,，、']")


@dataclass(frozen=True)
class Entry:
    team_id: int | None  # None: the whole site
    count: int


@dataclass
class CoverageInput:
    as_of: date
    entries: list[Entry]


def _headcount(raw: object, label: str) -> int | None:
    """A headcount as typed (full-width digits and thousands separators accepted), None when
    left blank; DomainError with a plain message otherwise."""
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else "").strip()
    text = _SEPARATORS.sub("", text)
    if not text:
        return None
    if re.fullmatch(r"[+-]?\d+", text) is None:
        if re.fullmatch(r"[+-]?\d+[.]\d*", text):
            raise DomainError(gettext("“%(label)s”请填整数人数") % {"label": label})
        raise DomainError(gettext("“%(label)s”请填数字，例如 350") % {"label": label})
    if len(text) > 12:
        raise DomainError(gettext("“%(label)s”数字太大，请核对") % {"label": label})
    value = int(text)
    if value < 0:
        raise DomainError(gettext("“%(label)s”不能是负数") % {"label": label})
    if value > MAX_HEADCOUNT:
        raise DomainError(gettext("“%(label)s”超过 %(max)d 人，请核对是否多打了 0") % {
            "label": label, "max": MAX_HEADCOUNT})
    return value


def clean(data: Mapping[str, object], teams: list[Team], today: date) -> CoverageInput:
    """The chair's form: `headcount` for the site, `team_<id>` for each team (blank = no new
    figure), `as_of` (the day the figures describe; today when blank). All or nothing:
    DomainError names the first bad field."""
    raw_day = data.get("as_of")
    as_of = today
    if isinstance(raw_day, str) and raw_day.strip():
        try:
            as_of = date.fromisoformat(raw_day.strip())
        except ValueError:
            raise DomainError(gettext("日期格式不对，请用日历选择"), field="as_of") from None
        if as_of > today:
            raise DomainError(gettext("日期不能晚于今天"), field="as_of")
        if today - as_of > MAX_BACKDATE:
            raise DomainError(gettext("只能补录一年以内的人数"), field="as_of")
    entries: list[Entry] = []
    try:
        site = _headcount(data.get("headcount"), gettext("全项目在场人数"))
    except DomainError as exc:
        exc.field = "headcount"
        raise
    if site is not None:
        entries.append(Entry(None, site))
    for team in teams:
        try:
            value = _headcount(data.get(f"team_{team.id}"), team.name)
        except DomainError as exc:
            exc.field = f"team_{team.id}"
            raise
        if value is not None:
            entries.append(Entry(team.id, value))
    if not entries:
        raise DomainError(gettext("请至少填写一个人数"), field="headcount")
    return CoverageInput(as_of, entries)


@dataclass
class TeamCoverage:
    team_id: int | None
    name: str
    members: int
    headcount: int | None
    as_of: date | None

    @property
    def rate(self) -> float | None:
        return self.members / self.headcount if self.headcount else None

    @property
    def over(self) -> bool:
        """More members than people on site: the headcount is out of date."""
        return self.headcount is not None and self.members > self.headcount


@dataclass
class Coverage:
    site: TeamCoverage
    teams: list[TeamCoverage]
    history: list[Headcount]


# The entry that counts per team (NULL: the site): the newest day, then the newest entry.
NEWEST_SQL = """
SELECT team_id AS team_id, count AS count, as_of AS as_of FROM (
  SELECT team_id, count, as_of,
         ROW_NUMBER() OVER (PARTITION BY team_id ORDER BY as_of DESC, id DESC) AS n
  FROM headcount WHERE project_id = ?) newest
WHERE n = 1
"""


async def _newest(project_id: int) -> dict[int | None, tuple[int, date]]:
    rows = await fetch(NEWEST_SQL, project_id)
    return {None if r[0] is None else int(r[0]): (
        int(r[1]), r[2] if isinstance(r[2], date) else date.fromisoformat(str(r[2])))
        for r in rows}


async def of_project(project: UnionNode, *, team_id: int | None = None) -> Coverage:
    """The project's coverage now: the site and every team (or just `team_id`'s)."""
    teams = await Team.filter(project=project).order_by("name")
    counts: dict[int | None, int] = {
        team: int(n) for team, n in await Member.filter(
            project=project, status=MemberStatus.ACTIVE).annotate(n=Count("id")).group_by(
            "team_id").values_list("team_id", "n")}
    newest = await _newest(project.id)
    history = await Headcount.filter(project=project).order_by(
        "-entered_at", "-id").limit(HISTORY_SHOWN).select_related("entered_by", "team")
    site_row = newest.get(None)
    site = TeamCoverage(None, project.name, sum(counts.values()),
                        site_row[0] if site_row else None, site_row[1] if site_row else None)
    team_rows = []
    for team in teams:
        if team_id is not None and team.id != team_id:
            continue
        row = newest.get(team.id)
        team_rows.append(TeamCoverage(team.id, team.name, counts.get(team.id, 0),
                                      row[0] if row else None, row[1] if row else None))
    return Coverage(site, team_rows, list(history))


async def record(officer: Officer, project: UnionNode, entry: CoverageInput, *,
                 ip: str, now: datetime | None = None) -> list[Headcount]:
    """Keep the chair's figures (one row each) and move the site's current value, in one
    transaction; on the record. A team larger than the site is refused: one of the two is
    mistyped."""
    site_new = next((e.count for e in entry.entries if e.team_id is None), None)
    async with transaction() as conn:
        current = await ProjectFigures.filter(project_id=project.id).using_db(conn).first()
        site = site_new
        if site is None and current is not None and current.headcount_as_of is not None and (
                current.headcount_as_of <= entry.as_of):
            site = current.headcount
        for e in entry.entries:
            if e.team_id is not None and site is not None and e.count > site:
                raise DomainError(gettext("班组人数不能多于全项目在场人数（%(n)d 人）") % {
                    "n": site}, field=f"team_{e.team_id}")
        created = []
        for e in entry.entries:
            created.append(await Headcount.create(
                project_id=project.id, team_id=e.team_id, count=e.count, as_of=entry.as_of,
                entered_by=officer, using_db=conn))
        if site_new is not None:
            await figure_rows.set_site_headcount(conn, project.id)
    await audit.record(officer, "coverage.update", project, ip=ip,
                       as_of=entry.as_of.isoformat(),
                       entries={str(e.team_id or "site"): e.count for e in entry.entries})
    return created


async def cadre_team(officer: Officer) -> TeamCoverage | None:
    """A cadre's own team's coverage, for their start page; None without a team."""
    team_id = officer.team_id  # type: ignore[attr-defined]
    if team_id is None:
        return None
    coverage = await of_project(officer.union, team_id=team_id)
    return coverage.teams[0] if coverage.teams else None


# --- 入会率 month by month ------------------------------------------------------------------

# Who was an active member at a month's end, by the rule of `moves.active_members_at`: those
# active now whose stretch at the project began by then, and the closed stretches (moves,
# leaving) that covered it. Both grouped by project and by the month (China time) the
# stretch began and ended, months before the window folded into '0000' and "not ended" into
# '9999': a few hundred groups however many members, summed per month end in Python.
# (One pass over the scope's active members, at most once per memo period on the upper view.)
_ACTIVE_MONTHS_SQL = """
SELECT m.project_id AS pid, CASE WHEN {start} < ? THEN '0000' ELSE {start} END AS came,
       '9999' AS went, COUNT(*) AS n
FROM member m
WHERE m.status = 'active' AND m.project_id IN ({scope})
GROUP BY 1, 2
"""
_CLOSED_MONTHS_SQL = """
SELECT mv.from_project_id AS pid, CASE WHEN {began} < ? THEN '0000' ELSE {began} END AS came,
       {ended} AS went, COUNT(*) AS n
FROM member_move mv
WHERE mv.from_status = 'active' AND mv.started_at IS NOT NULL
  AND mv.from_project_id IN ({scope}) AND {ended} >= ?
GROUP BY 1, 2, 3
"""
_SITE_HEADCOUNTS_SQL = """
SELECT h.project_id AS pid, h.as_of AS as_of, h.count AS n FROM headcount h
WHERE h.team_id IS NULL AND h.project_id IN ({scope}) ORDER BY h.project_id, h.as_of, h.id
"""
_SCOPE = {"path": "SELECT id FROM union_node WHERE path LIKE ? AND kind = 'project'",
          "project": "?"}


def _month_expr(db: str, column: str) -> str:
    if db == "sqlite":
        return f"strftime('%Y-%m', {column}, '+8 hours')"
    return f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"


@dataclass(frozen=True)
class MonthCoverage:
    """At a month's end (or now, for the month under way): the active members of the
    projects that had a site headcount in force then, and those headcounts summed."""
    members: int
    headcount: int


_CURRENT_MEMBERS_SQL = """
SELECT pf.project_id AS pid, pf.members AS n FROM project_figures pf
WHERE pf.project_id IN ({scope})
"""


class ClosedMonths:
    """Members at the end of months already over, per scope, kept an hour: a month's end
    is history (it changes only if a past move is corrected), and counting it is a pass
    over every member of the scope (500,000 for a province: seconds on a busy machine).
    So a page never waits for it: the count runs as a task of its own, at most one per
    scope at a time; until its first answer the past months show no 入会率, and after an
    hour the old answer serves while a new count runs. Owned by the app, beside the upper
    table's memo; bounded."""

    MAX_AGE = 3600.0
    MAX_ENTRIES = 64
    Groups = list[tuple[int, str, str, int]]

    def __init__(self) -> None:
        self._entries: dict[tuple[object, ...], tuple[float, ClosedMonths.Groups]] = {}
        self._running: dict[tuple[object, ...], asyncio.Task[None]] = {}

    def get(self, key: tuple[object, ...],
            count: Callable[[], Awaitable[ClosedMonths.Groups]]) -> ClosedMonths.Groups | None:
        """The counts for `key` if there are any (None: not yet), starting a count when
        there are none or they are over an hour old."""
        found = self._entries.get(key)
        if (found is None or time.monotonic() - found[0] > self.MAX_AGE) and (
                key not in self._running):
            self._running[key] = asyncio.create_task(self._count(key, count))
        return None if found is None else found[1]

    async def _count(self, key: tuple[object, ...],
                     count: Callable[[], Awaitable[ClosedMonths.Groups]]) -> None:
        try:
            groups = await count()
        except Exception:  # a failed count is tried again by the next page that needs it
            log.exception("counting members at past month ends failed")
            return
        finally:
            self._running.pop(key, None)
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), groups)

    async def settle(self) -> None:
        """Wait for the counts under way (tests, and the bench's warm-up)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)


async def _member_groups(first: str, scope: str, scope_arg: object
                         ) -> list[tuple[int, str, str, int]]:
    """(project, month the stretch began, month it ended, members): see _ACTIVE_MONTHS_SQL."""
    db = figure_rows.dialect()
    start = _month_expr(db, "COALESCE(m.project_since, m.joined_at, m.created_at)")
    rows = list(await fetch(_ACTIVE_MONTHS_SQL.format(start=start, scope=scope),
                            first, scope_arg))
    began, ended = _month_expr(db, "mv.started_at"), _month_expr(db, "mv.created_at")
    rows += await fetch(_CLOSED_MONTHS_SQL.format(began=began, ended=ended, scope=scope),
                        first, scope_arg, first)
    return [(int(str(p)), str(c), str(w), int(str(n))) for p, c, w, n in rows]


async def monthly(month_list: list[str], *, path: str | None = None,
                  project_id: int | None = None, now: datetime | None = None,
                  closed: ClosedMonths | None = None) -> dict[str, MonthCoverage | None]:
    """入会率's parts at the end of each month of `month_list` (ascending), over the projects
    below `path` or the one project: a member counts at a month's end when their stretch
    at the project began in or before that month and had not ended by its end (the rule
    of `moves.active_members_at`); the month under way counts the members now (the summary
    rows). Each project's headcount is the site entry in force then (the newest day on or
    before the month's end, and of that day the last entered: every entry is kept).
    Projects with no headcount in force that month count in neither part; None where no
    project had one. `closed`: where the months already over are kept (the upper view)."""
    if not month_list:
        return {}
    key = "project" if project_id is not None else "path"
    scope_arg: object = project_id if project_id is not None else f"{path}%"
    first = month_list[0]
    current = figure_rows.month_of(now or datetime.now(UTC))
    heads = await fetch(_SITE_HEADCOUNTS_SQL.format(scope=_SCOPE[key]), scope_arg)
    if not heads:
        return {m: None for m in month_list}
    groups: list[tuple[int, str, str, int]] | None = []
    if first < current:
        def count() -> Awaitable[list[tuple[int, str, str, int]]]:
            return _member_groups(first, _SCOPE[key], scope_arg)
        groups = (closed.get((key, scope_arg, first, current), count) if closed is not None
                  else await count())
    now_members = {int(str(p)): int(str(n)) for p, n in await fetch(
        _CURRENT_MEMBERS_SQL.format(scope=_SCOPE[key]), scope_arg)}
    # The headcount in force at each month's end, per project (entries in day order).
    entries: dict[int, list[tuple[str, int]]] = {}
    for pid, as_of, n in heads:
        entries.setdefault(int(str(pid)), []).append((str(as_of)[:7], int(str(n))))
    in_force: dict[str, dict[int, int]] = {m: {} for m in month_list}
    for pid, rows in entries.items():
        i, value = 0, None
        for month in month_list:
            while i < len(rows) and rows[i][0] <= month:
                value = rows[i][1]
                i += 1
            if value is not None:
                in_force[month][pid] = value
    out: dict[str, MonthCoverage | None] = {}
    for month in month_list:
        heads_then = in_force[month]
        if not heads_then:
            out[month] = None
            continue
        if month >= current:
            members = sum(now_members.get(pid, 0) for pid in heads_then)
        elif groups is None:  # past months still being counted (ClosedMonths)
            out[month] = None
            continue
        else:
            members = sum(n for pid, came, went, n in groups
                          if pid in heads_then and came <= month < went)
        out[month] = MonthCoverage(members, sum(heads_then.values()))
    return out
