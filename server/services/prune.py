"""Pruning: rows that have done their job and only make tables grow.

Run once a day by every delivery loop (each server process, and `lianxin worker`) and on
demand by `lianxin prune`; several at once are harmless (each DELETE re-checks its rows).
What goes, with how long it is kept (server.settings):

- deliveries that are over (sent, given up, or failed) and older than
  LIANXIN_KEEP_DELIVERIES_DAYS: the chair's delivery log shows the last week;
- inbox items read more than LIANXIN_KEEP_READ_INBOX_DAYS after they arrived (unread ones
  stay, however old: nobody has seen them yet; the request's timeline keeps the history);
- sessions that expired or were ended more than LIANXIN_KEEP_ENDED_SESSIONS_DAYS ago;
- rate-limit windows that are over (server.services.limits.sweep).

Rows go in batches, each one short autocommit DELETE of ids found by walking the primary
key from where the last batch stopped: one pass over a table without an index of its own,
and no long write lock (SQLite has one writer; a notice opening must not wait a minute).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from server.db import fetch, id_list
from server.services import limits
from server.settings import Settings

BATCH = 5000
EVERY = timedelta(hours=24)

# table -> the condition a row must meet to go (`?` placeholders: see `_conditions`).
_DELIVERIES = "status IN ('sent', 'dead', 'failed') AND created_at < ?"
_INBOX = "read_at IS NOT NULL AND created_at < ?"
_SESSIONS = "(expires_at < ? OR ended_at < ?)"


@dataclass(frozen=True)
class Pruned:
    deliveries: int
    inbox_items: int
    sessions: int
    limit_windows: int

    def __str__(self) -> str:
        return (f"{self.deliveries} deliveries, {self.inbox_items} read inbox items, "
                f"{self.sessions} sessions, {self.limit_windows} rate-limit windows")


async def _delete(table: str, condition: str, params: tuple[Any, ...],
                  batch: int = BATCH) -> int:
    """Delete the rows of `table` meeting `condition`, `batch` at a time."""
    deleted, after = 0, 0
    while True:
        rows = await fetch(
            f"SELECT id FROM {table} WHERE id > ? AND {condition} "  # noqa: S608
            "ORDER BY id LIMIT ?", after, *params, batch)
        if not rows:
            return deleted
        ids = [int(r[0]) for r in rows]
        # The condition again: a row may have changed since (a failed delivery retried).
        gone = await fetch(
            f"DELETE FROM {table} WHERE id IN ({id_list(ids)}) AND {condition} "  # noqa: S608
            "RETURNING id", *params)
        deleted += len(gone)
        after = ids[-1]
        if len(ids) < batch:
            return deleted


async def prune(settings: Settings, now: datetime | None = None,
                batch: int = BATCH) -> Pruned:
    now = now or datetime.now(UTC)
    deliveries = now - timedelta(days=settings.keep_deliveries_days)
    inbox = now - timedelta(days=settings.keep_read_inbox_days)
    sessions = now - timedelta(days=settings.keep_ended_sessions_days)
    return Pruned(
        deliveries=await _delete("delivery", _DELIVERIES, (deliveries,), batch),
        inbox_items=await _delete("inbox_item", _INBOX, (inbox,), batch),
        sessions=await _delete("session", _SESSIONS, (sessions, sessions), batch),
        limit_windows=await limits.sweep(now.timestamp()),
    )
