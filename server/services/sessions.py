"""Sign-in sessions kept on the server: opening, finding, touching and ending them.

A session key is 256 random bits, handed to the browser and never stored: the table keeps
its SHA-256 (a preimage of a random 256-bit value cannot be searched for, so no slow hash
or secret is needed). Ending a session is one UPDATE of `ended_at`; every process reads the
row on every request, so it takes effect on the very next request everywhere.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from server.db import fetch_dicts
from server.models import Session, SessionKind

KEY_BYTES = 32
# A key as it travels in the cookie: unpadded URL-safe base64 of KEY_BYTES.
KEY_LENGTH = 43
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# last_seen_at is written at most this often per session: a page and its polls stay at one
# indexed read each.
TOUCH_EVERY = timedelta(seconds=60)
# Workers have no password: their phone keeps its session for a year after it was last used.
MEMBER_SESSION_DAYS = 365


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def well_formed(key: str) -> bool:
    return len(key) == KEY_LENGTH and set(key) <= _KEY_CHARS


def lifetime(kind: SessionKind, officer_hours: int) -> timedelta:
    if kind == SessionKind.OFFICER:
        return timedelta(hours=officer_hours)
    return timedelta(days=MEMBER_SESSION_DAYS)


@dataclass(frozen=True)
class LiveSession:
    """One live session as the request sees it, with what decides about its subject."""

    id: int
    key: str
    kind: SessionKind
    subject_id: int
    csrf: str
    last_seen_at: datetime
    # The officer's version (officer sessions): the key of the process's cached snapshot.
    officer_version: int = 0


# Written by hand: this runs on every request, and building it through the ORM (two joins,
# thirteen columns) cost more CPU than the database spends answering it.
_FIND = ("SELECT s.id, s.key_hash, s.kind, s.officer_id, s.member_id, s.epoch, s.csrf, "
         "s.last_seen_at, o.version AS officer_version, o.active AS officer_active, "
         "o.session_epoch AS officer_epoch, m.session_epoch AS member_epoch "
         "FROM session s "
         "LEFT JOIN officer o ON o.id = s.officer_id LEFT JOIN member m ON m.id = s.member_id "
         "WHERE s.key_hash IN ({keys}) AND s.ended_at IS NULL AND s.expires_at > ?")


async def find(keys: Sequence[str], now: datetime) -> list[LiveSession]:
    """The live sessions among `keys`: one indexed read, joined with the subject's row so a
    deactivated officer or a new phone ends them without another query. A worker who left
    keeps theirs (their old requests stay readable to them)."""
    by_hash = {key_hash(k): k for k in keys if well_formed(k)}
    if not by_hash:
        return []
    fields = Session._meta.fields_map
    rows = await fetch_dicts(_FIND.format(keys=", ".join("?" * len(by_hash))), *by_hash,
                             fields["expires_at"].to_db_value(now, Session))
    found: list[LiveSession] = []
    for row in rows:
        kind = SessionKind(row["kind"])
        if kind == SessionKind.OFFICER:
            if not row["officer_active"] or row["officer_epoch"] != row["epoch"]:
                continue
            subject = row["officer_id"]
        else:
            if row["member_epoch"] != row["epoch"]:
                continue
            subject = row["member_id"]
        if subject is None:
            continue
        found.append(LiveSession(
            id=row["id"], key=by_hash[row["key_hash"]], kind=kind, subject_id=subject,
            csrf=row["csrf"], last_seen_at=fields["last_seen_at"].to_python_value(
                row["last_seen_at"]),
            officer_version=row["officer_version"] or 0))
    return found


async def open_session(kind: SessionKind, subject_id: int, epoch: int, key: str, csrf: str,
                       ttl: timedelta, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    officer = kind == SessionKind.OFFICER
    await Session.create(key_hash=key_hash(key), kind=kind, epoch=epoch, csrf=csrf,
                         officer_id=subject_id if officer else None,
                         member_id=None if officer else subject_id,
                         last_seen_at=now, expires_at=now + ttl)


async def touch(session: LiveSession, now: datetime) -> None:
    """Note the visit, at most once per TOUCH_EVERY; a member's session slides forward."""
    if now - session.last_seen_at < TOUCH_EVERY:
        return
    changes: dict[str, datetime] = {"last_seen_at": now}
    if session.kind == SessionKind.MEMBER:
        changes["expires_at"] = now + timedelta(days=MEMBER_SESSION_DAYS)
    await Session.filter(id=session.id).update(**changes)


async def set_csrf(session_ids: Sequence[int], csrf: str) -> None:
    if session_ids:
        await Session.filter(id__in=list(session_ids)).update(csrf=csrf)


async def end(session_ids: Sequence[int], now: datetime | None = None) -> int:
    if not session_ids:
        return 0
    return await Session.filter(id__in=list(session_ids), ended_at__isnull=True).update(
        ended_at=now or datetime.now(UTC))


async def end_officer_sessions(officer_id: int, now: datetime | None = None) -> int:
    """End every open session of an officer, in every process at once."""
    return await Session.filter(officer_id=officer_id, ended_at__isnull=True).update(
        ended_at=now or datetime.now(UTC))


async def end_member_sessions(member_id: int, now: datetime | None = None) -> int:
    return await Session.filter(member_id=member_id, ended_at__isnull=True).update(
        ended_at=now or datetime.now(UTC))

