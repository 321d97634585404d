"""Pruning: exactly the rows past their keeping time go (finished deliveries, read inbox
items, ended sessions, rate-limit windows that are over); everything else stays."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from server.models import (
    Delivery,
    InboxItem,
    LimitCounter,
    Member,
    Officer,
    Session,
    SessionKind,
)
from server.services import sessions
from server.services.delivery import delivery_loop
from server.services.prune import prune
from tests.factories import make_member, make_request

LIANXIN = str(Path(sys.executable).parent / "lianxin")
DAY = timedelta(days=1)


@dataclass
class Rows:
    """Ids of the rows a test made, by table, split into those that must go and stay."""

    old: dict[str, set[int]] = field(default_factory=dict)
    kept: dict[str, set[int]] = field(default_factory=dict)

    def add(self, table: str, row_id: int, *, goes: bool) -> None:
        (self.old if goes else self.kept).setdefault(table, set()).add(row_id)


TABLES: dict[str, Any] = {"delivery": Delivery, "inbox_item": InboxItem, "session": Session,
                          "limit_counter": LimitCounter}


async def ids(table: str) -> set[int]:
    return set(await TABLES[table].all().values_list("id", flat=True))


async def make_rows(app: Any, now: datetime) -> Rows:
    """Rows on both sides of each keeping time (defaults: deliveries 90 days, read inbox
    items 180, ended sessions 30), aged from `now`."""
    rows = Rows()
    member = await make_member(app)

    async def delivery(status: str, age: timedelta, *, goes: bool) -> None:
        made = await Delivery.create(channel="push", member_id=member.id, status=status,
                                     attempts=1, next_attempt_at=now - age, last_error="",
                                     created_at=now - age)
        rows.add("delivery", made.id, goes=goes)

    await delivery("sent", 91 * DAY, goes=True)
    await delivery("dead", 200 * DAY, goes=True)
    await delivery("failed", 95 * DAY, goes=True)
    await delivery("sent", 89 * DAY, goes=False)
    await delivery("dead", 10 * DAY, goes=False)
    await delivery("queued", 120 * DAY, goes=False)  # still to send: never pruned
    await delivery("sending", 120 * DAY, goes=False)  # a worker holds it

    # Inbox items: the liaison's "assigned" item of each request, aged by hand.
    async def item(read: bool, age: timedelta, *, goes: bool) -> None:
        request = await make_request(member)
        found = await InboxItem.get(request_id=request.id, reason="assigned")
        await InboxItem.filter(id=found.id).update(
            created_at=now - age, read_at=(now - age + DAY) if read else None)
        rows.add("inbox_item", found.id, goes=goes)

    await item(True, 181 * DAY, goes=True)
    await item(True, 179 * DAY, goes=False)
    await item(False, 400 * DAY, goes=False)  # never read: stays however old

    async def session(*, expired: timedelta | None = None, ended: timedelta | None = None,
                      goes: bool) -> None:
        key = sessions.new_key()
        await sessions.open_session(SessionKind.MEMBER, member.id, member.session_epoch, key,
                                    sessions.new_csrf(), timedelta(days=365), now)
        made = await Session.get(key_hash=sessions.key_hash(key))
        changes: dict[str, datetime] = {}
        if expired is not None:
            changes["expires_at"] = now - expired
        if ended is not None:
            changes["ended_at"] = now - ended
        if changes:
            await Session.filter(id=made.id).update(**changes)
        rows.add("session", made.id, goes=goes)

    await session(expired=31 * DAY, goes=True)
    await session(ended=40 * DAY, goes=True)
    await session(expired=29 * DAY, goes=False)
    await session(ended=2 * DAY, goes=False)
    await session(goes=False)  # live

    stamp = int(now.timestamp())
    for bucket, expires, goes in (("test.old", stamp - 60, True),
                                  ("test.live", stamp + 600, False)):
        counter = await LimitCounter.create(bucket=f"{bucket}:{member.id}",
                                            window_start=stamp - 900, expires=expires, hits=1)
        rows.add("limit_counter", counter.id, goes=goes)
    return rows


async def check(rows: Rows, before: dict[str, set[int]]) -> None:
    for table in TABLES:
        after = await ids(table)
        mine_old, mine_kept = rows.old.get(table, set()), rows.kept.get(table, set())
        assert before[table] - after == mine_old, table  # exactly the old ones went
        assert mine_kept <= after, table


async def test_prune_deletes_exactly_the_old_rows(app: Any) -> None:
    now = datetime.now(UTC)
    rows = await make_rows(app, now)
    before = {table: await ids(table) for table in TABLES}
    # Small batches: the walk over the primary key goes on across batches.
    pruned = await prune(app.state.settings, now, batch=2)
    assert (pruned.deliveries, pruned.inbox_items, pruned.sessions) == (3, 1, 2)
    assert pruned.limit_windows >= 1
    await check(rows, before)
    # Nothing more to do on a second run.
    again = await prune(app.state.settings, now)
    assert (again.deliveries, again.inbox_items, again.sessions) == (0, 0, 0)
    # The member and the officers the rows hung off are untouched.
    assert await Member.exists(id=(await Delivery.get(id=min(rows.kept["delivery"]))).member_id)  # type: ignore[attr-defined]
    assert await Officer.filter(active=True).exists()


async def test_keeping_times_come_from_the_settings(app: Any) -> None:
    now = datetime.now(UTC)
    member = await make_member(app)
    made = await Delivery.create(channel="push", member_id=member.id, status="sent",
                                 attempts=1, next_attempt_at=now - 10 * DAY, last_error="",
                                 created_at=now - 10 * DAY)
    settings = dataclasses.replace(app.state.settings, keep_deliveries_days=11)
    await prune(settings, now)
    assert await Delivery.exists(id=made.id)
    await prune(dataclasses.replace(settings, keep_deliveries_days=9), now)
    assert not await Delivery.exists(id=made.id)


async def test_cli_prune(app: Any, db_url: str, tmp_path: Path) -> None:
    rows = await make_rows(app, datetime.now(UTC))
    before = {table: await ids(table) for table in TABLES}
    env = {**os.environ, "LIANXIN_DB_URL": db_url,
           "LIANXIN_SECRET_KEY": "test-secret-key-0123456789-abcdefghijklmnop"}
    result = await asyncio.to_thread(subprocess.run, [LIANXIN, "prune"], env=env,
                                     capture_output=True, text=True, timeout=120,
                                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pruned 3 deliveries, 1 read inbox items, 2 sessions")
    await check(rows, before)


async def test_the_delivery_loop_prunes_when_it_starts(app: Any) -> None:
    rows = await make_rows(app, datetime.now(UTC))
    before = {table: await ids(table) for table in TABLES}
    loop = asyncio.create_task(delivery_loop(app.state.settings, 3600))
    try:
        deadline = time.monotonic() + 60
        # Rate-limit windows go last: once they are gone, the whole prune has run.
        while await LimitCounter.filter(id__in=rows.old["limit_counter"]).exists():
            assert time.monotonic() < deadline, "the loop did not prune"
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop
    # The loop also drained the queue first: the old queued and held deliveries (no
    # subscription behind them) were given up, and being old, pruned with the rest.
    for table in TABLES:
        after = await ids(table)
        assert not rows.old.get(table, set()) & after, table
    assert rows.kept["inbox_item"] | rows.kept["session"] | rows.kept["limit_counter"] <= (
        await ids("inbox_item") | await ids("session") | await ids("limit_counter"))
    recent = {d.id for d in await Delivery.filter(id__in=rows.kept["delivery"],
                                                  status__in=["sent", "dead"])}
    assert len(recent) == 2 and recent <= await ids("delivery")
    assert before["session"] - await ids("session") == rows.old["session"]
