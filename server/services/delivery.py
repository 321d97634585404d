"""The delivery queue: queueing pushes with the events and notices they announce, and the
worker that claims, sends and marks them.

Queueing. `enqueue_for_event` / `enqueue_for_requests` run inside the transaction that writes
the inbox items (transactional outbox): a push is queued exactly when its event exists. A
notice writes one `FanoutJob` when it is published; workers expand it into deliveries in
batches of subscriptions (keyset on the subscription id, progress saved with each batch), so
publishing to 500,000 members stays one row and a killed worker's successor carries on.
UNIQUE (source, subscription, channel) stops every double that a replay could make.

Claiming. A worker takes a batch with one statement: `UPDATE … WHERE id IN (SELECT … FOR
UPDATE SKIP LOCKED LIMIT n) RETURNING id` on PostgreSQL, so several processes take disjoint
batches without waiting on each other; the same conditional UPDATE on SQLite, where writers
take turns. Claimed rows become `sending` with a lease (`claimed_until`, also written to
`next_attempt_at`): when a worker dies, its rows become claimable again once the lease ends.

The at-least-once window. A message is sent twice only when a worker is killed (or stalls
past its lease) after the push service accepted a message and before the worker's mark was
committed. The worker keeps that window small: results are committed as they come in,
`mark_every` (20) to a transaction, and a message's sending slot is freed only once its
result is committed, so what is at the push service plus what is sent but not yet marked
never exceeds `concurrency` (50): a kill re-sends at most that many messages. A
worker whose lease was taken over cannot overwrite the new holder's marks (`claimed_by` is
checked). A message carries a `Topic`, so a push service holding it for an offline phone
replaces the first copy, and a notification `tag`, so a phone shows it once. Nothing is
ever lost: a row leaves the claimable set only by being marked sent or dead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from py_vapid import Vapid02
from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Subquery
from yarl import URL

from server.db import PRIMARY, fetch, transaction
from server.i18n import N_
from server.models import FanoutJob, Member, Notice, PushSubscription
from server.services import notices, push, sms
from server.settings import Settings

log = logging.getLogger("lianxin.delivery")

# Phones on sites are offline for hours: the push service keeps a message a day.
TTL_SECONDS = 24 * 3600
LEASE = timedelta(seconds=120)
SEND_TIMEOUT_SECONDS = 15.0
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=6)
# Signing is the main cost of a push: one VAPID header serves a push service for a while.
VAPID_REUSE_SECONDS = 600
VAPID_LIFETIME_SECONDS = 12 * 3600
FANOUT_BATCH = 2000

_COLUMNS = ("channel, member_id, officer_id, inbox_item_id, notice_id, subscription_id, "
            "status, attempts, next_attempt_at, last_error, created_at")


def _postgres(conn: BaseDBAsyncClient) -> bool:
    return bool(conn.capabilities.dialect == "postgres")


def _primary() -> BaseDBAsyncClient:
    return connections.get(PRIMARY)


# --- queueing --------------------------------------------------------------------------------

async def enqueue_for_event(conn: BaseDBAsyncClient, event_id: int) -> None:
    """One push per (inbox item of the event, subscription of its person), in the caller's
    transaction."""
    for who in ("member_id", "officer_id"):
        await fetch(
            f"INSERT INTO delivery ({_COLUMNS}) "  # noqa: S608
            "SELECT 'push', i.member_id, i.officer_id, i.id, NULL, s.id, 'queued', 0, "
            "i.created_at, '', i.created_at FROM inbox_item i "
            f"JOIN push_subscription s ON s.{who} = i.{who} "
            "WHERE i.event_id = ? ON CONFLICT DO NOTHING", int(event_id), conn=conn)
    reasons = sms.queued_reasons()
    if reasons:
        # One SMS per (event, member who turned SMS on): the once_key makes it exactly one.
        listed = ",".join("'" + r.replace("'", "") + "'" for r in reasons)
        await fetch(
            f"INSERT INTO delivery ({_COLUMNS}, once_key) "  # noqa: S608
            "SELECT 'sms', i.member_id, NULL, i.id, NULL, NULL, 'queued', 0, i.created_at, '', "
            "i.created_at, 'sms:' || i.id FROM inbox_item i JOIN member m ON m.id = i.member_id "
            f"WHERE i.event_id = ? AND m.sms_opt_in = ? AND i.reason IN ({listed}) "
            "ON CONFLICT DO NOTHING", int(event_id), True, conn=conn)


async def enqueue_for_requests(conn: BaseDBAsyncClient, request_ids: list[int]) -> None:
    """The pushes of the "assigned" items a filing batch wrote (see inbox.add_filed_items)."""
    if not request_ids:
        return
    ids = ",".join(str(int(i)) for i in request_ids)
    await fetch(
        f"INSERT INTO delivery ({_COLUMNS}) "  # noqa: S608
        "SELECT 'push', NULL, i.officer_id, i.id, NULL, s.id, 'queued', 0, i.created_at, '', "
        "i.created_at FROM inbox_item i JOIN push_subscription s ON s.officer_id = i.officer_id "
        f"WHERE i.request_id IN ({ids}) AND i.reason = 'assigned' ON CONFLICT DO NOTHING",
        conn=conn)


async def enqueue_for_summary(conn: BaseDBAsyncClient, summary_id: int) -> None:
    """One push per (chair's daily-summary item, subscription), in the summary's transaction."""
    await fetch(
        f"INSERT INTO delivery ({_COLUMNS}) "  # noqa: S608
        "SELECT 'push', NULL, i.officer_id, i.id, NULL, s.id, 'queued', 0, i.created_at, '', "
        "i.created_at FROM inbox_item i JOIN push_subscription s ON s.officer_id = i.officer_id "
        "WHERE i.summary_id = ? ON CONFLICT DO NOTHING", int(summary_id), conn=conn)


async def enqueue_for_shared_update(conn: BaseDBAsyncClient, update_id: int) -> None:
    """One push per (joiner's item about a shared-problem update, subscription), in the
    update's transaction."""
    await fetch(
        f"INSERT INTO delivery ({_COLUMNS}) "  # noqa: S608
        "SELECT 'push', i.member_id, NULL, i.id, NULL, s.id, 'queued', 0, i.created_at, '', "
        "i.created_at FROM inbox_item i JOIN push_subscription s ON s.member_id = i.member_id "
        "WHERE i.shared_update_id = ? ON CONFLICT DO NOTHING", int(update_id), conn=conn)


async def expand_one_fanout(now: datetime | None = None,
                            batch: int = FANOUT_BATCH) -> int | None:
    """Claims one unfinished fan-out job and expands one batch of it: the number of
    subscriptions expanded, None when no job was waiting."""
    now = now or datetime.now(UTC)
    conn = _primary()
    lock = " FOR UPDATE SKIP LOCKED" if _postgres(conn) else ""
    rows = await fetch(
        "UPDATE fanout_job SET claimed_until = ? WHERE id IN (SELECT id FROM fanout_job "  # noqa: S608
        "WHERE done = ? AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY id LIMIT 1"
        f"{lock}) RETURNING id, notice_id, after_id", now + LEASE, False, now)
    if not rows:
        return None
    job_id, notice_id, after_id = (int(v) for v in rows[0])
    notice = await Notice.get_or_none(id=notice_id).select_related("union")
    if notice is None or (notice.expires_at is not None and notice.expires_at <= now):
        await FanoutJob.filter(id=job_id).update(done=True, claimed_until=None)
        return 0
    reached = Member.filter(notices.recipients(notice)).values("id")
    ids = await PushSubscription.filter(member_id__in=Subquery(reached), id__gt=after_id) \
        .order_by("id").limit(batch).values_list("id", flat=True)
    sub_ids = [int(i) for i in ids]  # type: ignore[call-overload]
    async with transaction() as tx:
        if sub_ids:
            listed = ",".join(str(i) for i in sub_ids)
            await fetch(
                f"INSERT INTO delivery ({_COLUMNS}) "  # noqa: S608
                "SELECT 'push', s.member_id, NULL, NULL, ?, s.id, 'queued', 0, ?, '', ? "
                f"FROM push_subscription s WHERE s.id IN ({listed}) ON CONFLICT DO NOTHING",
                notice.id, now, now, conn=tx)
        # Progress saved with the batch, lease released: whoever claims it next (this
        # worker or another) resumes after the last id queued.
        await FanoutJob.filter(id=job_id).using_db(tx).update(
            after_id=sub_ids[-1] if sub_ids else after_id, done=len(sub_ids) < batch,
            claimed_until=None)
    return len(sub_ids)


# --- sending ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    delivery_id: int
    subscription_id: int | None
    status: str  # sent / failed / dead
    error: str = ""
    gone: bool = False  # the push service says the subscription no longer exists
    sms: bool = False  # an SMS: counted in the month's cost when sent


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    queued: int = 0

    def add(self, other: Stats) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.dead += other.dead
        self.queued += other.queued

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.dead


def retry_delay(attempts: int) -> timedelta:
    """Doubling from 30 s, at most 6 hours apart."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


@dataclass
class Worker:
    settings: Settings
    batch: int = 100
    # Also the bound of the at-least-once window after a kill (see the module docstring).
    concurrency: int = 50
    mark_every: int = 20
    name: str = field(default_factory=lambda: (
        f"{socket.gethostname()[:20]}:{os.getpid()}:{secrets.token_hex(3)}"))
    _session: aiohttp.ClientSession | None = None
    _vapid: dict[str, tuple[float, str]] = field(default_factory=dict)

    async def __aenter__(self) -> Worker:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            skip_auto_headers=("User-Agent",), auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- claiming --

    async def claim(self, now: datetime) -> list[int]:
        conn = _primary()
        lock = " FOR UPDATE SKIP LOCKED" if _postgres(conn) else ""
        until = now + LEASE
        rows = await fetch(
            "UPDATE delivery SET status = 'sending', claimed_by = ?, claimed_until = ?, "  # noqa: S608
            "next_attempt_at = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM delivery "
            "WHERE status IN ('queued', 'failed', 'sending') AND next_attempt_at <= ? "
            f"ORDER BY id LIMIT ?{lock}) RETURNING id", self.name, until, until, now,
            self.batch)
        return sorted(int(r[0]) for r in rows)

    async def _details(self, ids: list[int]) -> list[tuple[Any, ...]]:
        listed = ",".join(str(i) for i in ids)
        return await fetch(
            "SELECT d.id AS did, d.attempts AS attempts, s.id AS sid, s.endpoint AS endpoint, "  # noqa: S608
            "s.p256dh AS p256dh, s.auth AS auth, i.reason AS reason, i.request_id AS rid, "
            "i.officer_id AS oid, n.id AS nid, n.title AS title, d.channel AS channel, "
            "m.id AS mid, m.phone AS phone, m.sms_opt_in AS opt_in, "
            "su.problem_id AS spid FROM delivery d "
            "LEFT JOIN push_subscription s ON s.id = d.subscription_id "
            "LEFT JOIN inbox_item i ON i.id = d.inbox_item_id "
            "LEFT JOIN shared_update su ON su.id = i.shared_update_id "
            "LEFT JOIN notice n ON n.id = d.notice_id "
            "LEFT JOIN member m ON m.id = d.member_id "
            f"WHERE d.id IN ({listed}) AND d.claimed_by = ?", self.name)

    # -- sending --

    def _vapid_header(self, origin: str) -> str:
        """One signature per push-service origin for VAPID_REUSE_SECONDS (the token itself is
        valid for 12 hours, the most push services accept is 24)."""
        now = time.time()
        cached = self._vapid.get(origin)
        if cached is not None and cached[0] > now:
            return cached[1]
        signer = Vapid02(private_key=push.vapid_key(self.settings))
        claims = {"aud": origin, "exp": int(now) + VAPID_LIFETIME_SECONDS,
                  "sub": self.settings.push_contact}
        header = str(signer.sign(claims)["Authorization"])
        self._vapid[origin] = (now + VAPID_REUSE_SECONDS, header)
        return header

    async def _send_holding(self, row: tuple[Any, ...], gate: asyncio.Semaphore) -> Outcome:
        """Sends holding a permit that `run_batch` returns only once the outcome is marked:
        what is at the push service plus what is sent but unmarked never exceeds
        `concurrency`, which bounds what a kill can double."""
        await gate.acquire()
        return await self._send_one(row)

    async def _send_sms(self, row: tuple[Any, ...]) -> Outcome:
        (delivery_id, attempts, _, _, _, _, reason, request_id, _, _, _, _, member_id, phone,
         opt_in) = row[:15]
        if member_id is None or request_id is None:
            return Outcome(delivery_id, None, "dead", "source removed", sms=True)
        if not opt_in:
            return Outcome(delivery_id, None, "dead", "sms turned off", sms=True)
        result = await sms.send(self.settings, int(member_id), str(phone), str(reason),
                                int(request_id), datetime.now(UTC))
        if result.status == "failed" and attempts >= MAX_ATTEMPTS:
            return Outcome(delivery_id, None, "dead", f"{result.error} (gave up)"[:200],
                           sms=True)
        return Outcome(delivery_id, None, result.status, result.error, sms=True)

    async def _send_one(self, row: tuple[Any, ...]) -> Outcome:
        if row[11] == "sms":
            return await self._send_sms(row)
        (delivery_id, attempts, sub_id, endpoint, p256dh, auth, reason, request_id, officer_id,
         notice_id, notice_title) = row[:11]
        if sub_id is None:
            return Outcome(delivery_id, None, "dead", "subscription removed")
        if not push.endpoint_allowed(endpoint, self.settings.push_hosts):
            return Outcome(delivery_id, sub_id, "dead", "push service not allowed")
        if notice_id is not None:
            payload = push.notice_payload(int(notice_id), str(notice_title))
            topic = f"notice-{notice_id}"
        elif request_id is not None:
            payload = push.request_payload(str(reason), int(request_id),
                                           officer=officer_id is not None)
            topic = f"request-{request_id}"
        elif reason == push.SUMMARY_REASON:
            payload = push.summary_payload()
            topic = "daily-summary"
        elif row[15] is not None:
            payload = push.shared_payload(str(reason), int(row[15]))
            topic = f"shared-{row[15]}"
        else:
            return Outcome(delivery_id, sub_id, "dead", "source removed")
        try:
            body = push.encrypt(str(p256dh), str(auth), payload)
            # Topic: a push service keeps only the latest message per topic for a phone
            # that is offline, so a message re-sent after a kill reaches it once.
            headers = {"Authorization": self._vapid_header(push.origin_of(endpoint)),
                       "Content-Encoding": "aes128gcm", "TTL": str(TTL_SECONDS),
                       "Urgency": "normal", "Topic": topic,
                       "Content-Type": "application/octet-stream"}
            assert self._session is not None
            # Never follow a redirect: it could lead anywhere the allow-list does not.
            async with self._session.post(URL(endpoint, encoded=True), data=body,
                                          headers=headers,
                                          allow_redirects=False) as response:
                status = response.status
                answer = await response.read()
            text = answer[:120].decode("utf-8", "replace") if status >= 300 else ""
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return self._retry(delivery_id, sub_id, attempts,
                               f"network: {type(exc).__name__}")
        except Exception as exc:  # a malformed key: retrying will not mend it
            return Outcome(delivery_id, sub_id, "dead", f"encrypt: {type(exc).__name__}")
        if 200 <= status < 300:
            return Outcome(delivery_id, sub_id, "sent")
        error = f"HTTP {status} {' '.join(text.split())}".strip()[:200]
        if status in (404, 410):
            return Outcome(delivery_id, sub_id, "dead", error, gone=True)
        if status in (400, 413):
            return Outcome(delivery_id, sub_id, "dead", error)
        return self._retry(delivery_id, sub_id, attempts, error)

    @staticmethod
    def _retry(delivery_id: int, sub_id: int, attempts: int, error: str) -> Outcome:
        if attempts >= MAX_ATTEMPTS:
            return Outcome(delivery_id, sub_id, "dead", f"{error} (gave up)"[:200])
        return Outcome(delivery_id, sub_id, "failed", error)

    async def _mark(self, outcomes: list[Outcome], attempts: dict[int, int],
                    now: datetime) -> None:
        """Every result of the batch in one transaction: the at-least-once window ends here."""
        sent = [o for o in outcomes if o.status == "sent"]
        others = [o for o in outcomes if o.status != "sent"]
        gone = sorted({o.subscription_id for o in outcomes
                       if o.gone and o.subscription_id is not None})
        async with transaction() as tx:
            if sent:
                listed = ",".join(str(o.delivery_id) for o in sent)
                await fetch(
                    "UPDATE delivery SET status = 'sent', sent_at = ?, claimed_by = NULL, "  # noqa: S608
                    f"claimed_until = NULL, last_error = '' WHERE id IN ({listed}) "
                    "AND claimed_by = ?", now, self.name, conn=tx)
                subs = ",".join(sorted({str(o.subscription_id) for o in sent
                                        if o.subscription_id is not None}))
                if subs:
                    await fetch(f"UPDATE push_subscription SET last_success = ?, failures = 0 "  # noqa: S608
                                f"WHERE id IN ({subs})", now, conn=tx)
                await sms.add_cost(tx, self.settings, sum(1 for o in sent if o.sms), now)
            for o in others:
                when = now + retry_delay(attempts.get(o.delivery_id, 1))
                await fetch(
                    "UPDATE delivery SET status = ?, last_error = ?, next_attempt_at = ?, "
                    "claimed_by = NULL, claimed_until = NULL WHERE id = ? AND claimed_by = ?",
                    o.status, o.error, when, o.delivery_id, self.name, conn=tx)
            failed_subs = sorted({o.subscription_id for o in others
                                  if o.subscription_id is not None and not o.gone})
            if failed_subs:
                listed = ",".join(str(i) for i in failed_subs)
                await fetch("UPDATE push_subscription SET failures = failures + 1 "  # noqa: S608
                            f"WHERE id IN ({listed})", conn=tx)
            if gone:
                listed = ",".join(str(i) for i in gone)
                # What else waits for a subscription that no longer exists will not be sent.
                await fetch(
                    "UPDATE delivery SET status = 'dead', last_error = 'subscription gone', "  # noqa: S608
                    "claimed_by = NULL, claimed_until = NULL "
                    f"WHERE subscription_id IN ({listed}) AND status IN ('queued', 'failed')",
                    conn=tx)
                await fetch(f"DELETE FROM push_subscription WHERE id IN ({listed})",  # noqa: S608
                            conn=tx)

    async def run_batch(self, now: datetime | None = None) -> Stats:
        """Claim one batch, send it, and mark results as they come in, `mark_every` at a
        time: what a kill can double is what was sent since the last mark."""
        ids = await self.claim(now or datetime.now(UTC))
        if not ids:
            return Stats()
        rows = await self._details(ids)
        attempts = {int(r[0]): int(r[1]) for r in rows}
        gate = asyncio.Semaphore(self.concurrency)
        tasks = [asyncio.ensure_future(self._send_holding(row, gate)) for row in rows]
        stats = Stats()
        unmarked: list[Outcome] = []
        every = max(1, min(self.mark_every, self.concurrency))
        try:
            for next_done in asyncio.as_completed(tasks):
                outcome = await next_done
                setattr(stats, outcome.status, getattr(stats, outcome.status) + 1)
                unmarked.append(outcome)
                if len(unmarked) >= every:
                    await self._mark(unmarked, attempts, now or datetime.now(UTC))
                    for _ in unmarked:
                        gate.release()
                    unmarked = []
            if unmarked:
                await self._mark(unmarked, attempts, now or datetime.now(UTC))
        finally:
            for task in tasks:
                task.cancel()
        return stats

    async def drain(self, now: datetime | None = None, max_batches: int | None = None) -> Stats:
        """Expand fan-out jobs and send until nothing is due (or `max_batches` ran)."""
        total = Stats()
        batches = 0
        while max_batches is None or batches < max_batches:
            queued = await expand_one_fanout(now)
            total.queued += queued or 0
            stats = await self.run_batch(now)
            total.add(stats)
            batches += 1
            if queued is None and not stats.handled:
                break
        return total


async def delivery_loop(settings: Settings, interval_seconds: float, batch: int = 100) -> None:
    """Runs in every server process (and in `lianxin worker`): claims make duplicates
    harmless, an empty queue costs two statements per interval. Also prunes old rows when
    it starts and once a day after (server.services.prune)."""
    from server.services.prune import EVERY, prune

    next_prune = time.monotonic()
    async with Worker(settings, batch=batch) as worker:
        while True:
            try:
                stats = await worker.drain()
                if stats.handled:
                    log.info("deliveries: %d sent, %d failed, %d dead", stats.sent,
                             stats.failed, stats.dead)
            except Exception:  # the loop must outlive a database hiccup; the next run retries
                log.exception("delivery job failed")
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + EVERY.total_seconds()
                try:
                    log.info("pruned %s", await prune(settings))
                except Exception:  # tomorrow's run tries again
                    log.exception("prune failed")
            await asyncio.sleep(interval_seconds)


# --- the log ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogRow:
    id: int
    channel: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
    source: str  # "notice" / "request" / "summary" / "shared": a number, never its text
    source_id: int | None
    url: str


STATUS_LABELS: dict[str, str] = {
    "queued": N_("等待发送"), "sending": N_("发送中"), "sent": N_("已送达"),
    "failed": N_("失败待重试"), "dead": N_("已放弃"),
}


def _scope(project_id: int | None) -> tuple[str, tuple[int, ...]]:
    """Deliveries about one project's requests and notices (a chair's), or all (admin)."""
    if project_id is None:
        return "", ()
    return (" AND (d.inbox_item_id IN (SELECT i2.id FROM inbox_item i2 JOIN service_request r "
            "ON r.id = i2.request_id WHERE r.project_id = ?) OR d.inbox_item_id IN "
            "(SELECT i3.id FROM inbox_item i3 JOIN daily_summary ds ON ds.id = i3.summary_id "
            "WHERE ds.project_id = ?) OR d.inbox_item_id IN (SELECT i4.id FROM inbox_item i4 "
            "JOIN shared_update su ON su.id = i4.shared_update_id JOIN shared_problem sp "
            "ON sp.id = su.problem_id WHERE sp.project_id = ?) OR d.notice_id IN "
            "(SELECT n.id FROM notice n WHERE n.union_id = ?))",
            (project_id, project_id, project_id, project_id))


async def counts(since: datetime, project_id: int | None = None) -> dict[str, int]:
    where, params = _scope(project_id)
    rows = await fetch("SELECT d.status, COUNT(*) AS n FROM delivery d "  # noqa: S608
                       f"WHERE d.created_at >= ?{where} GROUP BY d.status", since, *params)
    result = {s: 0 for s in ("queued", "sending", "sent", "failed", "dead")}
    for status, n in rows:
        result[str(status)] = int(n)
    return result


async def latest(project_id: int | None = None, limit: int = 100) -> list[LogRow]:
    where, params = _scope(project_id)
    rows = await fetch(
        "SELECT d.id, d.channel, d.status, d.attempts, d.last_error, d.created_at, d.sent_at, "  # noqa: S608
        "i.request_id, d.notice_id, i.summary_id, su.problem_id AS spid FROM delivery d "
        "LEFT JOIN inbox_item i ON i.id = d.inbox_item_id "
        "LEFT JOIN shared_update su ON su.id = i.shared_update_id "
        f"WHERE 1 = 1{where} ORDER BY d.id DESC LIMIT ?", *params, limit)
    out = []
    for (did, channel, status, attempts, error, created, sent, request_id, notice_id,
         summary_id, problem_id) in rows:
        if notice_id is not None:
            source, source_id, url = "notice", int(notice_id), f"/officer/notices/{notice_id}"
        elif request_id is not None:
            source, source_id = "request", int(request_id)
            url = f"/officer/requests/{request_id}"
        elif summary_id is not None:
            source, source_id, url = "summary", int(summary_id), "/officer/summary"
        elif problem_id is not None:
            source, source_id = "shared", int(problem_id)
            url = f"/officer/shared/{problem_id}"
        else:
            source, source_id, url = "", None, ""
        out.append(LogRow(int(did), str(channel), str(status), int(attempts), str(error or ""),
                          _as_datetime(created), _as_datetime(sent) if sent else None,
                          source, source_id, url))
    return out


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

