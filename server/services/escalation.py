"""The deadline job: overdue requests move one level up by themselves, once per level;
resolved requests the worker never confirmed are closed after a week; the cadre holding a
request is reminded once when its deadline comes near; and each morning the project chairs
get their daily summary (`server.services.summary`).

Safe with several server processes: each step is `lifecycle.apply_system_transition`, a
conditional UPDATE that only succeeds from the state the job read, so two runs racing for one
row cannot both escalate it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.models import EventKind, Level, RequestEvent, ServiceRequest
from server.services import figure_rows, summary
from server.services.lifecycle import (
    NEXT_LEVEL,
    SYSTEM_TRANSITIONS,
    apply_system_transition,
    due_soon_key,
)

log = logging.getLogger("lianxin.deadlines")
AUTO_CLOSE_AFTER = timedelta(days=7)
BATCH = 200


DEFAULT_DUE_SOON = timedelta(hours=24)


@dataclass
class JobResult:
    escalated: int = 0
    closed: int = 0
    reminded: int = 0
    summaries: int = 0


MAX_BATCHES = 50


async def run_deadline_job(now: datetime | None = None, *,
                           due_soon: timedelta = DEFAULT_DUE_SOON,
                           summary_hour: int | None = summary.DEFAULT_HOUR) -> JobResult:
    """One pass over everything overdue or due soon at `now`, in batches (bounded per run),
    then the daily summaries if their hour has come (`summary_hour` None: none)."""
    now = now or datetime.now(UTC)
    result = JobResult()
    for _ in range(MAX_BATCHES):
        escalated, closed, more = await _one_batch(now)
        result.escalated += escalated
        result.closed += closed
        if not more:
            break
    result.reminded = await remind_due_soon(now, due_soon)
    if summary_hour is not None:
        result.summaries = await summary.make_due(now, summary_hour, due_soon)
    if result.escalated or result.closed or result.reminded or result.summaries:
        log.info("deadline job: %d escalated, %d closed, %d reminded, %d summaries",
                 result.escalated, result.closed, result.reminded, result.summaries)
    return result


async def remind_due_soon(now: datetime, window: timedelta) -> int:
    """One inbox item for the cadre holding each open request whose deadline is less than
    `window` away: once per request and deadline (the event's key, see
    `lifecycle.due_soon_key`), however many runs race.

    Only deadlines the request came near, not ones it started near: a request filed with 24
    hours to be acknowledged and a 24-hour window would otherwise ring twice at filing, and
    its "assigned" item already said it. A deadline counts from the filing, or from the last
    reopening (which sets a new one)."""
    reminded = 0
    after_id = 0
    for _ in range(MAX_BATCHES):
        rows = await ServiceRequest.filter(
            status__in=list(SYSTEM_TRANSITIONS["due_soon"].sources), level=Level.CADRE,
            assignee_id__isnull=False, level_due_at__gt=now, level_due_at__lte=now + window,
            # A duplicate runs on its master's clock: the master is reminded, not it.
            duplicate_of_id__isnull=True, id__gt=after_id).order_by("id").limit(BATCH)
        if not rows:
            break
        after_id = rows[-1].id
        reopened: dict[int, datetime] = {}
        for request_id, at in await RequestEvent.filter(
                request_id__in=[r.id for r in rows], kind=EventKind.REOPENED).values_list(
                    "request_id", "created_at"):
            reopened[request_id] = max(at, reopened.get(request_id, at))
        due = [r for r in rows if max(r.created_at, reopened.get(r.id, r.created_at))
               < r.level_due_at - window]
        # Those reminded already, in one lookup: a run a minute is otherwise a failed
        # INSERT per waiting request per minute.
        keys = {due_soon_key(r): r for r in due}
        done = set(await RequestEvent.filter(client_id__in=list(keys)).values_list(
            "client_id", flat=True))
        for key, request in keys.items():
            if key not in done:
                reminded += await apply_system_transition(request, "due_soon", now)
        if len(rows) < BATCH:
            break
    return reminded


async def _one_batch(now: datetime) -> tuple[int, int, bool]:
    escalate, close = SYSTEM_TRANSITIONS["auto_escalate"], SYSTEM_TRANSITIONS["auto_close"]
    overdue = await ServiceRequest.filter(
        status__in=list(escalate.sources), level__in=list(NEXT_LEVEL),
        # A duplicate follows its master: the master escalates, it does not.
        duplicate_of_id__isnull=True, level_due_at__lt=now).order_by("level_due_at").limit(BATCH)
    escalated = 0
    for request in overdue:
        escalated += await apply_system_transition(request, "auto_escalate", now)
    stale = await ServiceRequest.filter(status__in=list(close.sources),
                                        resolved_at__lt=now - AUTO_CLOSE_AFTER).limit(BATCH)
    closed = 0
    for request in stale:
        closed += await apply_system_transition(request, "auto_close", now)
    return escalated, closed, len(overdue) == BATCH or len(stale) == BATCH


async def deadline_loop(interval_seconds: float = 60.0, *,
                        due_soon: timedelta = DEFAULT_DUE_SOON,
                        summary_hour: int | None = summary.DEFAULT_HOUR) -> None:
    """Runs in every server process; conditional updates and UNIQUE keys make the duplicates
    harmless."""
    while True:
        try:
            await run_deadline_job(due_soon=due_soon, summary_hour=summary_hour)
            # The upper union's "overdue" column moves with the clock, not with events.
            await figure_rows.refresh_overdue_if_stale(datetime.now(UTC))
        except Exception:  # the loop must outlive a database hiccup; the next run retries
            log.exception("deadline job failed")
        await asyncio.sleep(interval_seconds)
