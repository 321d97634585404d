"""The deadline job: overdue requests move one level up by themselves, once per level, and
resolved requests the worker never confirmed are closed after a week.

Safe with several server processes: each step is a conditional UPDATE that only succeeds
from the state the job read, so two runs racing for one row cannot both escalate it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.db import transaction
from server.models import EventKind, Level, RequestEvent, ServiceRequest, Status
from server.models.requests import OPEN_STATUSES
from server.services import deadlines
from server.services.requests import NEXT_LEVEL

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
    escalated = closed = 0
    overdue = await ServiceRequest.filter(
        status__in=list(OPEN_STATUSES), level__in=[Level.CADRE, Level.CHAIR],
        level_due_at__lt=now).order_by("level_due_at").limit(BATCH)
    for request in overdue:
        new_level = NEXT_LEVEL[Level(request.level)]
        async with transaction():
            claimed = await ServiceRequest.filter(
                id=request.id, level=request.level, level_due_at__lt=now,
                status__in=list(OPEN_STATUSES),
            ).update(level=new_level,
                     level_due_at=deadlines.add_workdays(now, deadlines.LEVEL_WORKDAYS))
            if not claimed:
                continue  # another process (or an officer) moved it first
            event = await RequestEvent.create(
                request_id=request.id, kind=EventKind.AUTO_ESCALATED, public=True,
                detail={"from": str(request.level), "to": str(new_level),
                        "due": request.level_due_at.isoformat()}, created_at=now)
            await ServiceRequest.filter(id=request.id).update(last_event_id=event.id,
                                                               last_public_event_id=event.id)
        escalated += 1
    stale = await ServiceRequest.filter(status=Status.RESOLVED,
                                        resolved_at__lt=now - AUTO_CLOSE_AFTER).limit(BATCH)
    for request in stale:
        async with transaction():
            claimed = await ServiceRequest.filter(id=request.id, status=Status.RESOLVED).update(
                status=Status.CLOSED, closed_at=now)
            if not claimed:
                continue
            event = await RequestEvent.create(request_id=request.id, kind=EventKind.AUTO_CLOSED,
                                              public=True, created_at=now)
            await ServiceRequest.filter(id=request.id).update(last_event_id=event.id,
                                                               last_public_event_id=event.id)
        closed += 1
    return escalated, closed, len(overdue) == BATCH or len(stale) == BATCH


async def deadline_loop(interval_seconds: float = 60.0) -> None:
    """Runs in every server process; the conditional updates make the duplicates harmless."""
    while True:
        try:
            await run_deadline_job()
        except Exception:  # the loop must outlive a database hiccup; the next run retries
            log.exception("deadline job failed")
        await asyncio.sleep(interval_seconds)
