"""The deadline job: overdue requests move one level up by themselves, once per level, and
resolved requests the worker never confirmed are closed after a week.

Safe with several server processes: each step is `lifecycle.apply_system_transition`, a
conditional UPDATE that only succeeds from the state the job read, so two runs racing for one
row cannot both escalate it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.models import ServiceRequest
from server.services import summary
from server.services.lifecycle import NEXT_LEVEL, SYSTEM_TRANSITIONS, apply_system_transition

log = logging.getLogger("lianxin.deadlines")
AUTO_CLOSE_AFTER = timedelta(days=7)
BATCH = 200


@dataclass
class JobResult:
    escalated: int = 0
    closed: int = 0


MAX_BATCHES = 50


async def run_deadline_job(now: datetime | None = None) -> JobResult:
    """One pass over everything overdue at `now`, in batches (bounded per run)."""
    now = now or datetime.now(UTC)
    result = JobResult()
    for _ in range(MAX_BATCHES):
        escalated, closed, more = await _one_batch(now)
        result.escalated += escalated
        result.closed += closed
        if not more:
            break
    if result.escalated or result.closed:
        log.info("deadline job: %d escalated, %d closed", result.escalated, result.closed)
    return result


async def _one_batch(now: datetime) -> tuple[int, int, bool]:
    escalate, close = SYSTEM_TRANSITIONS["auto_escalate"], SYSTEM_TRANSITIONS["auto_close"]
    overdue = await ServiceRequest.filter(
        status__in=list(escalate.sources), level__in=list(NEXT_LEVEL),
        level_due_at__lt=now).order_by("level_due_at").limit(BATCH)
    escalated = 0
    for request in overdue:
        escalated += await apply_system_transition(request, "auto_escalate", now)
    stale = await ServiceRequest.filter(status__in=list(close.sources),
                                        resolved_at__lt=now - AUTO_CLOSE_AFTER).limit(BATCH)
    closed = 0
    for request in stale:
        closed += await apply_system_transition(request, "auto_close", now)
    return escalated, closed, len(overdue) == BATCH or len(stale) == BATCH


async def deadline_loop(interval_seconds: float = 60.0) -> None:
    """Runs in every server process; the conditional updates make the duplicates harmless."""
    while True:
        try:
            await run_deadline_job()
            # The upper union's "overdue" column moves with the clock, not with events.
            await summary.refresh_overdue_if_stale(datetime.now(UTC))
        except Exception:  # the loop must outlive a database hiccup; the next run retries
            log.exception("deadline job failed")
        await asyncio.sleep(interval_seconds)
