"""Coverage: the site headcount (在场人数) a chair copies from the labour real-name system, per
project and per team, and 入会率 = active members ÷ headcount.

Every entry is kept (`Headcount`, one row each, with the day it describes and who entered
it), so the history is there for a trend; the newest entry by that day counts. The site's
current value is also copied into its `ProjectFigures` row in the same transaction, which is
what the upper union's table reads.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
