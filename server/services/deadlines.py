"""Reply and resolution targets: per-category defaults, a project's own overrides, and
working-day arithmetic in China's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar

from server.labels import CHINA
from server.models import Category, CategoryDeadline, UnionNode

DEFAULT_ACK_HOURS = 24
DEFAULT_RESOLVE_WORKDAYS = 3
# Unpaid wages cannot wait three working days: a family is waiting for that money.
DEFAULT_RESOLVE_BY_CATEGORY = {Category.WAGES: 2, Category.SAFETY: 2}
# After an escalation the next level gets this many working days before it escalates again.
LEVEL_WORKDAYS = 2
MAX_ACK_HOURS = 24 * 14
MAX_RESOLVE_WORKDAYS = 60


@dataclass(frozen=True)
class Targets:
    ack_hours: int
    resolve_workdays: int


def default_targets(category: Category) -> Targets:
    return Targets(DEFAULT_ACK_HOURS,
                   DEFAULT_RESOLVE_BY_CATEGORY.get(category, DEFAULT_RESOLVE_WORKDAYS))


async def targets_for(project: UnionNode) -> dict[Category, Targets]:
    result = {c: default_targets(c) for c in Category}
    for row in await CategoryDeadline.filter(project=project):
        result[Category(row.category)] = Targets(row.ack_hours, row.resolve_workdays)
    return result


async def set_targets(project: UnionNode, category: Category, targets: Targets) -> None:
    row = await CategoryDeadline.get_or_none(project=project, category=category)
    if row is None:
        await CategoryDeadline.create(project=project, category=category,
                                      ack_hours=targets.ack_hours,
                                      resolve_workdays=targets.resolve_workdays)
    else:
        row.ack_hours, row.resolve_workdays = targets.ack_hours, targets.resolve_workdays
        await row.save()


def is_workday(day: date) -> bool:
    """A working day in mainland China: the State Council's holidays and the weekend days
    made working days around them (调休), from the `chinesecalendar` package. For a year it
    does not know yet (the calendar is announced each November), Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def add_workdays(start: datetime, days: int) -> datetime:
    """`days` working days after `start`, keeping the time of day. A request filed on a
    rest day counts from 09:00 of the next working day: three working days filed on the
    eve of the National Day holiday end after the holiday, not during it."""
    local = start.astimezone(CHINA)
    while not is_workday(local.date()):
        local = (local + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    added = 0
    while added < days:
        local += timedelta(days=1)
        if is_workday(local.date()):
            added += 1
    return local.astimezone(start.tzinfo)
