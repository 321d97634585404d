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
# Wage cases (欠薪) count calendar days, not working days: arrears do not pause for a weekend
# or the Spring Festival holidays, which is exactly when workers go home and need the money.
# Their "resolve_workdays" (the chair's form and the defaults) is then a number of days.
CALENDAR_DAY_CATEGORIES = frozenset({Category.WAGES})
# Unpaid wages cannot wait: a family is waiting for that money.
DEFAULT_RESOLVE_BY_CATEGORY = {Category.WAGES: 2, Category.SAFETY: 2}
# In the four weeks before the Spring Festival (年关) the default for a wage case is stricter:
# workers leave for home, and an employer who has not paid by then pays after the holidays.
PRE_FESTIVAL_DAYS = 28
PRE_FESTIVAL_WAGE_DAYS = 1
# 正月初一 (lunar new year's day) by Gregorian year: a lunar date is not computable with
# the standard library, and the table is short. A year missing here has no stricter window.
SPRING_FESTIVAL: dict[int, date] = {
    2024: date(2024, 2, 10), 2025: date(2025, 1, 29), 2026: date(2026, 2, 17),
    2027: date(2027, 2, 6), 2028: date(2028, 1, 26), 2029: date(2029, 2, 13),
    2030: date(2030, 2, 3), 2031: date(2031, 1, 23), 2032: date(2032, 2, 11),
    2033: date(2033, 1, 31), 2034: date(2034, 2, 19), 2035: date(2035, 2, 8),
    2036: date(2036, 1, 28), 2037: date(2037, 2, 15), 2038: date(2038, 2, 4),
    2039: date(2039, 1, 24), 2040: date(2040, 2, 12),
}
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
    resolve_workdays: int  # calendar days for CALENDAR_DAY_CATEGORIES
    custom: bool = False  # set by the project's chair (the pre-festival default yields to it)


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


def shortened(days: int, urgency: Urgency | str) -> int:
    """Days to resolve: as given, or half of them (rounded up, at least one) when urgent."""
    if urgency != Urgency.URGENT:
        return days
    return max(1, ceil(days / URGENT_RESOLVE_DIVISOR))


def due_times(category: str, targets: Targets, urgency: Urgency | str,
              now: datetime) -> DueTimes:
    """A new request's deadlines: the one place filing (alone or batched) takes them from.
    The category decides how days are counted (calendar days for wage cases, with the
    stricter pre-festival default) and urgency shortens both."""
    days = shortened(resolve_days(category, targets, now), urgency)
    return DueTimes(now + ack_time(targets, Urgency(urgency)), add_days(category, now, days))


def next_level_due(category: str, now: datetime, urgency: Urgency | str) -> datetime:
    """When the level now holding a request (after an escalation or a reopening) runs out
    of time, counted as the category counts days."""
    days = URGENT_LEVEL_WORKDAYS if urgency == Urgency.URGENT else LEVEL_WORKDAYS
    return add_days(category, now, days)


def default_targets(category: Category) -> Targets:
    return Targets(DEFAULT_ACK_HOURS,
                   DEFAULT_RESOLVE_BY_CATEGORY.get(category, DEFAULT_RESOLVE_WORKDAYS))


async def targets_for(project: UnionNode) -> dict[Category, Targets]:
    result = {c: default_targets(c) for c in Category}
    for row in await CategoryDeadline.filter(project=project):
        result[Category(row.category)] = Targets(row.ack_hours, row.resolve_workdays, True)
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
            if (target.ack_hours, target.resolve_workdays) == (
                    DEFAULT_ACK_HOURS, default_targets(category).resolve_workdays):
                # The default kept as a default (not a row): the pre-festival wage rule
                # applies to defaults only, and a form saved unchanged must not end it.
                await CategoryDeadline.filter(project=project, category=category).using_db(
                    conn).delete()
                continue
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


# --- calendar days for wage cases -------------------------------------------------------------

def counts_calendar_days(category: str) -> bool:
    return category in CALENDAR_DAY_CATEGORIES


def before_spring_festival(day: date) -> bool:
    """Whether `day` (China time) lies in the PRE_FESTIVAL_DAYS before 正月初一."""
    for year in (day.year, day.year + 1):
        festival = SPRING_FESTIVAL.get(year)
        if festival is not None and 0 < (festival - day).days <= PRE_FESTIVAL_DAYS:
            return True
    return False


def resolve_days(category: str, target: Targets, now: datetime) -> int:
    """The days (working or calendar, by category) a request filed at `now` has to be
    resolved: the target, or for a wage case before the Spring Festival the stricter default
    unless the project's chair set the wage target themselves."""
    if (counts_calendar_days(category) and not target.custom
            and before_spring_festival(now.astimezone(CHINA).date())):
        return min(target.resolve_workdays, PRE_FESTIVAL_WAGE_DAYS)
    return target.resolve_workdays


def add_days(category: str, start: datetime, days: int) -> datetime:
    """`days` after `start` as the category's clock counts them: calendar days for wage
    cases (keeping the time of day), working days for everything else."""
    if counts_calendar_days(category):
        return start + timedelta(days=days)
    return add_workdays(start, days)


def resolve_due(category: str, target: Targets, now: datetime) -> datetime:
    return add_days(category, now, resolve_days(category, target, now))
