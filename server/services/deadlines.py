"""Reply and resolution targets: per-category defaults, a project's own overrides, and
working-day arithmetic in China's time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from math import ceil

import chinese_calendar

from server.db import transaction
from server.errors import DomainError
from server.i18n import gettext
from server.labels import CHINA
from server.models import Category, CategoryDeadline, UnionNode, Urgency
from server.validation import small_int

DEFAULT_ACK_HOURS = 24
DEFAULT_RESOLVE_WORKDAYS = 3
# Unpaid wages cannot wait three working days: a family is waiting for that money.
DEFAULT_RESOLVE_BY_CATEGORY = {Category.WAGES: 2, Category.SAFETY: 2}
# After an escalation the next level gets this many working days before it escalates again.
LEVEL_WORKDAYS = 2
MAX_ACK_HOURS = 24 * 14
# 很急 (a danger on site, money needed now): the worker said it cannot wait, so every clock
# runs faster. A quarter of the hours to acknowledge (never under an hour: someone has to
# read it), half the working days to resolve (rounded up), and one working day per level
# after an escalation or a reopening instead of LEVEL_WORKDAYS.
URGENT_ACK_DIVISOR = 4
URGENT_MIN_ACK = timedelta(hours=1)
URGENT_RESOLVE_DIVISOR = 2
URGENT_LEVEL_WORKDAYS = 1
MAX_RESOLVE_WORKDAYS = 60


@dataclass(frozen=True)
class Targets:
    ack_hours: int
    resolve_workdays: int


@dataclass(frozen=True)
class DueTimes:
    ack: datetime
    resolve: datetime


def ack_time(targets: Targets, urgency: Urgency) -> timedelta:
    """How long the union has to acknowledge a request with these targets."""
    normal = timedelta(hours=targets.ack_hours)
    if urgency != Urgency.URGENT:
        return normal
    return max(URGENT_MIN_ACK, normal / URGENT_ACK_DIVISOR)


def resolve_workdays(targets: Targets, urgency: Urgency) -> int:
    """Working days to resolve: the category's, or half of them (rounded up) when urgent."""
    if urgency != Urgency.URGENT:
        return targets.resolve_workdays
    return max(1, ceil(targets.resolve_workdays / URGENT_RESOLVE_DIVISOR))


def due_times(targets: Targets, urgency: Urgency, now: datetime) -> DueTimes:
    """A new request's deadlines: the one place filing (alone or batched) takes them from."""
    return DueTimes(now + ack_time(targets, urgency),
                    add_workdays(now, resolve_workdays(targets, urgency)))


def next_level_due(now: datetime, urgency: Urgency | str) -> datetime:
    """When the level now holding a request (after an escalation or a reopening) runs out
    of time."""
    days = URGENT_LEVEL_WORKDAYS if urgency == Urgency.URGENT else LEVEL_WORKDAYS
    return add_workdays(now, days)


def default_targets(category: Category) -> Targets:
    return Targets(DEFAULT_ACK_HOURS,
                   DEFAULT_RESOLVE_BY_CATEGORY.get(category, DEFAULT_RESOLVE_WORKDAYS))


async def targets_for(project: UnionNode) -> dict[Category, Targets]:
    result = {c: default_targets(c) for c in Category}
    for row in await CategoryDeadline.filter(project=project):
        result[Category(row.category)] = Targets(row.ack_hours, row.resolve_workdays)
    return result


def clean_targets(data: Mapping[str, object]) -> dict[Category, Targets]:
    """Every category's targets from the chair's form (`ack_<category>`, `days_<category>`),
    or DomainError naming the first bad row: all or nothing, never ten saved of eleven."""
    targets: dict[Category, Targets] = {}
    for category in Category:
        ack = small_int(data.get(f"ack_{category.value}"))
        days = small_int(data.get(f"days_{category.value}"))
        if ack is None or not 1 <= ack <= MAX_ACK_HOURS or days is None or not (
                1 <= days <= MAX_RESOLVE_WORKDAYS):
            raise DomainError(
                gettext("受理时限 1–%(hours)d 小时，办结时限 1–%(days)d 个工作日") % {
                    "hours": MAX_ACK_HOURS, "days": MAX_RESOLVE_WORKDAYS},
                field=category.value)
        targets[category] = Targets(ack, days)
    return targets


async def save_targets(project: UnionNode, targets: Mapping[Category, Targets]) -> None:
    """Store a project's targets in one transaction."""
    async with transaction() as conn:
        for category, target in targets.items():
            updated = await CategoryDeadline.filter(project=project, category=category).using_db(
                conn).update(ack_hours=target.ack_hours, resolve_workdays=target.resolve_workdays)
            if not updated:
                await CategoryDeadline.create(project=project, category=category,
                                              ack_hours=target.ack_hours,
                                              resolve_workdays=target.resolve_workdays,
                                              using_db=conn)


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
