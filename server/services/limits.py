"""Every rate limit: fixed-window counters in the database, shared by all server processes.

An attempt is counted *before* the secret is looked at, by one statement
(INSERT … ON CONFLICT DO UPDATE … RETURNING) that answers the count including this attempt:
forty guesses sent at the same moment get forty different counts, so at most `max_hits` of
them are ever checked. Reading the count first and writing it afterwards would let all forty
read the same old count. SQLite ≥ 3.35 and PostgreSQL both run the statement atomically.

The limits are declared once in server.settings and taken from there by `configure` when the
app is created; until then (scripts, tests that call services directly) their defaults apply.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from server.db import fetch
from server.errors import TooManyAttempts
from server.i18n import gettext, ngettext
from server.models import Member, ServiceRequest
from server.settings import OPTIONS, Settings

BUMP = ("INSERT INTO limit_counter (bucket, window_start, expires, hits) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (bucket, window_start) DO UPDATE SET hits = limit_counter.hits + ? "
        "RETURNING hits")
REFUND = "UPDATE limit_counter SET hits = hits - ? WHERE bucket = ? AND window_start = ?"
SWEEP = "DELETE FROM limit_counter WHERE expires < ?"
# Old windows are deleted at most this often per process: one indexed DELETE now and then
# keeps the table to the live windows without a job of its own.
SWEEP_EVERY_SECONDS = 600.0
# A re-bind code's lifetime: its tries are counted in one window that long (server.services.rebind).
REBIND_CODE_SECONDS = 24 * 3600
# An officer's password code's lifetime (server.services.officers), counted the same way.
PASSWORD_CODE_SECONDS = 24 * 3600
_last_sweep = 0.0


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_seconds: int


@dataclass(frozen=True)
class Hit:
    """One counted attempt (or `amount` of them) in one window of one limit."""

    limit: Limit
    bucket: str
    window_start: int
    amount: int
    hits: int  # the window's count including this attempt

    @property
    def over(self) -> bool:
        return self.hits > self.limit.max_hits

    async def refund(self, amount: int | None = None) -> None:
        """Take back what this attempt counted (all of it unless told less): for an attempt
        that turned out not to be one the limit is about (a right password), or that was
        refused and should not also use up the quota it was refused for. Only ever this
        attempt's own hits, so a refund cannot re-open a window for anybody else."""
        await fetch(REFUND, self.amount if amount is None else amount, self.bucket,
                    self.window_start)


async def bump(limit: Limit, subject: str, amount: int = 1, *,
               window_start: int | None = None, now: float | None = None) -> Hit:
    """Count `amount` attempts on `subject` and return the count; `window_start` anchors a
    window elsewhere than on the clock's multiples (a re-bind code's lifetime)."""
    now = time.time() if now is None else now
    if window_start is None:
        window_start = int(now) - int(now) % limit.window_seconds
    bucket = f"{limit.name}:{subject}"[:100]
    rows = await fetch(BUMP, bucket, window_start, window_start + limit.window_seconds,
                       amount, amount)
    await _sweep_now_and_then(now)
    return Hit(limit, bucket, window_start, amount, int(rows[0][0]))


async def _sweep_now_and_then(now: float) -> None:
    global _last_sweep
    if now - _last_sweep >= SWEEP_EVERY_SECONDS:
        _last_sweep = now
        await sweep(now)


async def sweep(now: float | None = None) -> int:
    """Delete the windows that are over; returns how many rows went."""
    rows = await fetch(SWEEP + " RETURNING id", int(time.time() if now is None else now))
    return len(rows)


# --- the limits, from the settings -------------------------------------------------------

@dataclass(frozen=True)
class Limits:
    login_phone: Limit
    login_ip: Limit
    rebind_phone: Limit
    rebind_ip: Limit
    rebind_code: Limit  # window: the code's lifetime (anchored by the caller)
    join_phone: Limit
    join_ip: Limit
    requests: Limit
    # Setting a password with a one-time code: the login's numbers, in buckets of their own
    # (a mistyped password must not use up the code's tries, nor the other way round).
    password_phone: Limit
    password_ip: Limit
    password_code: Limit  # window: the code's lifetime (anchored by the caller)

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            login_phone=Limit("login.phone", s.login_max_failures, s.login_window_seconds),
            login_ip=Limit("login.ip", s.login_max_failures_per_ip, s.login_window_seconds),
            rebind_phone=Limit("rebind.phone", s.rebind_max_attempts, s.rebind_window_seconds),
            rebind_ip=Limit("rebind.ip", s.rebind_max_attempts_per_ip,
                            s.rebind_window_seconds),
            rebind_code=Limit("rebind.code", s.rebind_max_attempts, REBIND_CODE_SECONDS),
            join_phone=Limit("join.phone", s.join_max_per_phone, s.join_window_seconds),
            join_ip=Limit("join.ip", s.join_max_per_ip, s.join_window_seconds),
            requests=Limit("requests.member", s.requests_per_hour, 3600),
            password_phone=Limit("password.phone", s.login_max_failures,
                                 s.login_window_seconds),
            password_ip=Limit("password.ip", s.login_max_failures_per_ip,
                              s.login_window_seconds),
            password_code=Limit("password.code", s.login_max_failures, PASSWORD_CODE_SECONDS),
        )


def _defaults() -> Limits:
    values: dict[str, object] = {o.attr: o.parse(o.default) for o in OPTIONS
                                 if o.attr in Settings.__dataclass_fields__
                                 and o.attr not in {"secret_key"}}
    return Limits.from_settings(Settings(secret_key="", **values))  # type: ignore[arg-type]


_current: Limits | None = None


def configure(settings: Settings) -> None:
    global _current
    _current = Limits.from_settings(settings)


def current() -> Limits:
    global _current
    if _current is None:
        _current = _defaults()
    return _current


def wait_message(limit: Limit) -> str:
    """"Try again in N minutes", N from the limit's window (the longest one may wait)."""
    minutes = max(1, math.ceil(limit.window_seconds / 60))
    return ngettext("尝试次数太多，请 %(minutes)d 分钟后再试。",
                    "尝试次数太多，请 %(minutes)d 分钟后再试。", minutes) % {"minutes": minutes}


async def hit_all(*pairs: tuple[Limit, str]) -> Limit | None:
    """Count one attempt on each (limit, subject); the first limit now exceeded, if any.
    Every pair is counted even when an earlier one is over: each is an attempt on it."""
    exceeded = None
    for limit, subject in pairs:
        hit = await bump(limit, subject)
        if hit.over and exceeded is None:
            exceeded = limit
    return exceeded


# --- filing requests ---------------------------------------------------------------------

class _Filing(Protocol):
    @property
    def client_id(self) -> uuid.UUID: ...


T = TypeVar("T", bound=_Filing)


def requests_message() -> str:
    return gettext("一小时内最多提交 %(n)d 条诉求，请过一会儿再提交，已填的内容会保留。") % {
        "n": current().requests.max_hits}


async def filing_quota(member: Member, client_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Of the client_ids a member is filing, those that may be filed now: every one already
    filed (a replay files nothing new, so it costs nothing) and as many new ones as the hour's
    quota has left, in the order given. The rest are over the quota and not counted, so an
    outbox that retries them later is not locked out by its own retries.

    The new ones are counted first, all at once; what the returned count shows to be over
    the limit is given back. Two batches at the same moment see different counts, so
    together they never get more than the quota."""
    wanted = list(dict.fromkeys(client_ids))
    if not wanted:
        return set()
    filed = {uuid.UUID(str(c)) for c in await ServiceRequest.filter(
        client_id__in=wanted).values_list("client_id", flat=True)}
    new = [c for c in wanted if c not in filed]
    if not new:
        return filed
    hit = await bump(current().requests, str(member.id), len(new))
    over = min(len(new), max(0, hit.hits - hit.limit.max_hits))
    if over:
        await hit.refund(over)
    return filed | set(new[:len(new) - over])


async def within_filing_quota(member: Member, batch: Sequence[T]) -> list[T]:
    """The items of an outbox batch (anything with a client_id) that `filing_quota` lets
    through, in their order."""
    allowed = await filing_quota(member, [item.client_id for item in batch])
    return [item for item in batch if item.client_id in allowed]


async def count_filing(member: Member, client_id: uuid.UUID) -> Hit | None:
    """One request filed on its own: refused (429) when the hour's quota is used up. Answers
    what it counted: None for a client_id already filed (a replay costs nothing), else the
    hit, for `refund` when the filing turns out to be a replay after all (concurrent posts
    of one form all count before any of them has inserted)."""
    if await ServiceRequest.exists(client_id=client_id):
        return None
    hit = await bump(current().requests, str(member.id))
    if hit.over:
        await hit.refund()
        raise TooManyAttempts(requests_message())
    return hit


async def refund(hit: Hit | None) -> None:
    if hit is not None:
        await hit.refund()
