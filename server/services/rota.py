"""The duty rota (值日): each weekday a theme and the department on duty; today's duty shown to
workers, and requests filed in the day's duty category marked for that department."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from server.db import transaction
from server.errors import DomainError
from server.i18n import N_, gettext
from server.labels import CHINA
from server.models import Category, DutyDay, Officer, UnionNode
from server.validation import Cleaner, small_int

WEEKDAY_LABELS = (N_("周一"), N_("周二"), N_("周三"), N_("周四"), N_("周五"), N_("周六"),
                  N_("周日"))
# The Friday open forum: on this theme (or a suggestion day) workers are invited to suggest.
OPEN_FORUM = "大家谈"
THEME_MAX = 20
DEPARTMENT_MAX = 30
LINE_MAX = 100


@dataclass(frozen=True)
class DutyRow:
    theme: str = ""
    department: str = ""
    officer_id: int | None = None
    category: Category | None = None
    line: str = ""

    @property
    def empty(self) -> bool:
        return not (self.theme or self.department or self.officer_id or self.category
                    or self.line)


def clock() -> datetime:
    """Now; one place so tests can pick the day of the week."""
    return datetime.now(UTC)


def weekday_of(now: datetime) -> int:
    """Monday 0 … Sunday 6 on the site's calendar: 07:00 Monday in China is still Sunday UTC."""
    return now.astimezone(CHINA).weekday()


async def today(project: UnionNode | int, now: datetime | None = None) -> DutyDay | None:
    project_id = project if isinstance(project, int) else project.id
    return await DutyDay.get_or_none(project_id=project_id,
                                     weekday=weekday_of(now or clock()))


def invites_suggestions(day: DutyDay | None) -> bool:
    return day is not None and (day.theme == OPEN_FORUM or day.category == Category.SUGGESTION)


async def duty_for(project_id: int, category: Category, now: datetime) -> str | None:
    """The department a request filed now in `category` is marked for, if it is the day's
    duty category."""
    day = await today(project_id, now)
    if day is None or day.category != category or not day.department:
        return None
    return day.department


async def week(project: UnionNode) -> list[DutyRow]:
    """Seven rows, Monday first; a day without a row is an empty one."""
    rows = [DutyRow() for _ in range(7)]
    for day in await DutyDay.filter(project=project):
        rows[day.weekday] = DutyRow(day.theme, day.department,
                                    day.officer_id,  # type: ignore[attr-defined]
                                    Category(day.category) if day.category else None, day.line)
    return rows


def rows_from_form(data: Mapping[str, object]) -> list[DutyRow]:
    """The chair's form (`theme_<n>`, `department_<n>`, `officer_<n>`, `category_<n>`,
    `line_<n>` for n = 0…6), or DomainError naming the first bad field."""
    c = Cleaner(data)
    categories = {cat.value: cat for cat in Category}
    rows = []
    for n in range(7):
        theme = c.text(f"theme_{n}", required=False, max_length=THEME_MAX, label=N_("主题"))
        department = c.text(f"department_{n}", required=False, max_length=DEPARTMENT_MAX,
                            label=N_("值日部门"))
        line = c.text(f"line_{n}", required=False, max_length=LINE_MAX, label=N_("一句话"))
        category = c.choice(f"category_{n}", categories, required=False, label=N_("类别"))
        raw_officer = c.raw(f"officer_{n}").strip()
        officer_id = small_int(raw_officer)
        if raw_officer and officer_id is None:
            c.errors[f"officer_{n}"] = gettext("值日干部的选项无效，请重新选择")
        rows.append(DutyRow(theme, department, officer_id,
                            categories[category] if category else None, line))
    if c.errors:
        name, message = next(iter(c.errors.items()))
        raise DomainError(message, field=name)
    return rows


async def drop_officer(officer_id: int) -> list[int]:
    """Take an officer who is leaving (deactivated, or no longer a cadre or chair) off every
    day of the rota, keeping the day's theme and department: the weekdays they were on
    (Monday 0), for the audit record. Runs in the caller's transaction."""
    days = sorted(int(str(d)) for d in await DutyDay.filter(
        officer_id=officer_id).values_list("weekday", flat=True))
    if days:
        await DutyDay.filter(officer_id=officer_id).update(officer_id=None)
    return days


async def set_week(project: UnionNode, rows: Sequence[DutyRow]) -> None:
    """Replace the project's week: all seven days checked first, then saved in one
    transaction, so a bad Thursday leaves Monday as it was."""
    if len(rows) != 7:
        raise DomainError(gettext("值日表应有七天"))
    officers = set(await Officer.filter(union=project, active=True).values_list("id", flat=True))
    for n, row in enumerate(rows):
        if row.officer_id is not None and row.officer_id not in officers:
            raise DomainError(gettext("值日干部应是本项目的工会干部"), field=f"officer_{n}")
        if not row.empty and not (row.theme or row.department):
            raise DomainError(gettext("请填写这一天的主题或值日部门"), field=f"theme_{n}")
    async with transaction() as conn:
        for n, row in enumerate(rows):
            if row.empty:
                await DutyDay.filter(project=project, weekday=n).using_db(conn).delete()
                continue
            values = {"theme": row.theme, "department": row.department,
                      "officer_id": row.officer_id, "category": row.category, "line": row.line}
            updated = await DutyDay.filter(project=project, weekday=n).using_db(conn).update(
                **values)
            if not updated:
                await DutyDay.create(project=project, weekday=n, using_db=conn, **values)
