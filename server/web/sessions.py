"""Server-side sessions on the wire: the cookie, and the per-request state routes ask about.

Why not Starlette's SessionMiddleware: it keeps the session *in* the cookie (signed, not
encrypted), so the cookie showed the officer's and member's ids, and a cookie copied before
a logout kept working after it. Nothing in our session is harmless enough to keep there,
so this middleware replaces it whole. It is pure ASGI: BaseHTTPMiddleware runs the app in
another task and loses the context variables Tortoise relies on.

The `lx_session` cookie holds one or two opaque keys joined by "." (a member's and an
officer's: a cadre may also be a member on their own phone), or one key with no row at
all for an anonymous visitor, whose CSRF token is derived from it so nothing is written for
the hundreds of workers who open a join form. Keys are looked up once per request, in one
indexed read (`server.services.sessions.find`); sign-in and sign-out are queued by the
handler and written just before the response starts, so the routes that call
`access.sign_in_member` stay synchronous.

A worker's phone that still holds the cookie of the old signed sessions is moved to a
server-side session on its first visit (`_legacy_member`): workers have no password, and
losing their sign-in would send every one of them to a cadre for a re-bind code. An
officer's old cookie is simply dropped; they sign in again.

A response whose content depended on the session carries `Vary: Cookie`. The service
worker never caches officer pages but the enrolment page, and it caches nothing that
redirected (a lapsed sign-in), so no officer's page or CSRF token is served from its cache.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.crypto import Keyring
from server.models import Member, SessionKind
from server.services import sessions

SESSION_COOKIE = "lx_session"
# The cookie outlives any session it holds: the server decides when a session ends.
COOKIE_MAX_AGE = 365 * 24 * 3600
SCOPE_KEY = "lx_session"
# Requests that never read a session: skipping them keeps static files free of queries.
SKIP_PREFIXES = ("/static/", "/pwa/", "/sw/", "/sw.js", "/manifest.webmanifest",
                 "/favicon.ico", "/healthz")
MAX_KEYS = 2


class SessionState:
    """The request's sessions; changes are queued and written before the response starts."""

    def __init__(self, keyring: Keyring, keys: list[str], live: list[sessions.LiveSession],
                 officer_hours: int) -> None:
        self._keyring = keyring
        self._officer_hours = officer_hours
        self.officer = next((s for s in live if s.kind == SessionKind.OFFICER), None)
        self.member = next((s for s in live if s.kind == SessionKind.MEMBER), None)
        # A key with no live row stands for an anonymous visitor (or a session that ended):
        # it only feeds the CSRF token, and only while no live session is there.
        self._anon: str | None = None
        if not live:
            self._anon = next((k for k in keys if sessions.well_formed(k)), None)
        self._pending: list[Callable[[], Awaitable[object]]] = []
        # Rewrite the cookie when it named sessions that are gone.
        self.changed = self.cookie_value() != ".".join(keys)
        self.used = False

    def live(self) -> list[sessions.LiveSession]:
        return [s for s in (self.member, self.officer) if s is not None]

    def cookie_value(self) -> str:
        keys = [s.key for s in self.live()]
        if not keys and self._anon:
            keys = [self._anon]
        return ".".join(keys)

    def csrf(self) -> str:
        """The token forms must carry; made (for an anonymous visitor) on first use."""
        self.used = True
        expected = self.expected_csrf()
        if expected is None:
            self._anon = sessions.new_key()
            self.changed = True
            expected = self._anon_csrf(self._anon)
        return expected

    def expected_csrf(self) -> str | None:
        live = self.live()
        if live:
            return live[-1].csrf  # all of a browser's live sessions share one token
        return self._anon_csrf(self._anon) if self._anon else None

    def _anon_csrf(self, key: str) -> str:
        return self._keyring.keyed_hash("csrf:" + key)[:32]

    def officer_cache_key(self) -> str:
        """Names the officer's session to the service worker, which keeps that officer's
        pages for offline reading under it (issue 11): another session, another name. A
        keyed hash, so it says nothing about the session key itself."""
        if self.officer is None:
            return ""
        return self._keyring.keyed_hash("officer-cache:" + self.officer.key)[:32]

    def sign_in(self, kind: SessionKind, subject_id: int, epoch: int) -> None:
        """A new session with a new key (no key planted before survives the sign-in) and a
        new CSRF token for every session of this browser (no token seen before works)."""
        now = datetime.now(UTC)
        key, csrf = sessions.new_key(), sessions.new_csrf()
        ttl = sessions.lifetime(kind, self._officer_hours)
        old = self.officer if kind == SessionKind.OFFICER else self.member
        other = self.member if kind == SessionKind.OFFICER else self.officer
        new = sessions.LiveSession(id=0, key=key, kind=kind, subject_id=subject_id, csrf=csrf,
                                   last_seen_at=now)

        async def commit() -> None:
            await sessions.open_session(kind, subject_id, epoch, key, csrf, ttl, now)
            if old is not None and old.id:
                await sessions.end([old.id], now)
            if other is not None and other.id:
                await sessions.set_csrf([other.id], csrf)

        self._pending.append(commit)
        if other is not None:
            other = replace(other, csrf=csrf)
        self.officer, self.member = (new, other) if kind == SessionKind.OFFICER else (other, new)
        self._anon = None
        self.changed = True

    def sign_out(self, kind: SessionKind) -> None:
        old = self.officer if kind == SessionKind.OFFICER else self.member
        if old is None:
            return
        if old.id:
            self._pending.append(lambda: sessions.end([old.id]))
        if kind == SessionKind.OFFICER:
            self.officer = None
        else:
            self.member = None
        self.changed = True

    async def commit(self) -> None:
        pending, self._pending = self._pending, []
        for step in pending:
            await step()


def state_of(conn: HTTPConnection) -> SessionState | None:
    state = conn.scope.get(SCOPE_KEY)
    return state if isinstance(state, SessionState) else None


def _cookie_of(scope: Scope) -> str:
    return HTTPConnection(scope).cookies.get(SESSION_COOKIE, "")


def _keys_from(raw: str) -> list[str]:
    return [k for k in raw.split(".")[:MAX_KEYS] if k]


async def _legacy_member(signer: TimestampSigner, raw: str) -> Member | None:
    """The member named by a cookie of the old signed sessions (Starlette's format), if it
    is genuine, under a year old and still matches the member's phone (epoch)."""
    if raw.count(".") != 2:
        return None
    try:
        data = json.loads(base64.b64decode(signer.unsign(raw.encode(), max_age=COOKIE_MAX_AGE)))
    except (BadSignature, ValueError):
        return None
    member = data.get("member") if isinstance(data, dict) else None
    if not isinstance(member, dict) or not isinstance(member.get("id"), int):
        return None
    found = await Member.get_or_none(id=member["id"])
    if found is None or found.session_epoch != member.get("epoch"):
        return None
    return found


class ServerSessionMiddleware:
    def __init__(self, app: ASGIApp, keyring: Keyring, officer_hours: int,
                 secure: bool = False) -> None:
        self.app = app
        self.keyring = keyring
        self.officer_hours = officer_hours
        self.flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self.legacy = TimestampSigner(keyring.session_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIP_PREFIXES):
            await self.app(scope, receive, send)
            return
        raw = _cookie_of(scope)
        keys = _keys_from(raw)
        now = datetime.now(UTC)
        live = await sessions.find(keys, now) if keys else []
        for session in live:
            await sessions.touch(session, now)
        state = SessionState(self.keyring, keys, live, self.officer_hours)
        if not live and raw:
            member = await _legacy_member(self.legacy, raw)
            if member is not None:
                state.sign_in(SessionKind.MEMBER, member.id, member.session_epoch)
        scope[SCOPE_KEY] = state

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                await state.commit()
                headers = MutableHeaders(scope=message)
                if state.changed:
                    headers.append("Set-Cookie", self._cookie(state.cookie_value()))
                if state.used or state.changed:
                    headers.add_vary_header("Cookie")
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie(self, value: str) -> str:
        if not value:
            return f"{SESSION_COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT" + (
                self.flags)
        return f"{SESSION_COOKIE}={value}; Max-Age={COOKIE_MAX_AGE}" + self.flags

