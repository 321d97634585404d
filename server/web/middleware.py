"""Pure ASGI middleware (BaseHTTPMiddleware would break the context Tortoise relies on)."""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.i18n import LANGUAGES, current_language, negotiate

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    # blob: plays back a voice message just recorded, before it is sent.
    "media-src 'self' blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'; manifest-src 'self'; worker-src 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    # Join links carry invite tokens: never leak them to another site.
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "geolocation=(), microphone=(), payment=()",
}
# The pages that record a voice message (the request form, a request's page for the worker
# and for officers) pass this with their response; every other page keeps the microphone off.
MICROPHONE = {"permissions-policy": "geolocation=(), microphone=(self), payment=()"}
LANGUAGE_COOKIE = "lx_lang"


def add_security_headers(headers: MutableHeaders, *, hsts: bool) -> None:
    """The headers every response carries, the 500 page included (see errors.server_error)."""
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if hsts:
        headers.setdefault("strict-transport-security", "max-age=31536000")


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                add_security_headers(headers, hsts=self.hsts)
                if headers.get("content-type", "").startswith("text/html"):
                    # Worker pages may be revalidated; officer routes set no-store themselves.
                    headers.setdefault("cache-control", "no-cache, private")
            await send(message)

        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b""):
            # No page has a NUL in its address: refused here, before a route could pass one
            # to the database (PostgreSQL refuses the statement) or into a header.
            from server.web.errors import error_response  # errors imports this module

            await error_response(Request(scope), 400)(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse bodies over the limit (413) before they are read into memory."""

    def __init__(self, app: ASGIApp, default_limit: int, upload_limit: int,
                 upload_prefixes: tuple[str, ...] = ("/requests", "/officer/requests/"),
                 ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.upload_limit = upload_limit
        self.upload_prefixes = upload_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in {"GET", "HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        limit = self.upload_limit if path.startswith(self.upload_prefixes) else self.default_limit
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > limit
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if too_big:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited_receive, send)


class LocaleMiddleware:
    """Pick the language: the switch's cookie first, then Accept-Language, then the default."""

    def __init__(self, app: ASGIApp, default: str) -> None:
        self.app = app
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        language = None
        cookie_header = headers.get(b"cookie")
        if cookie_header:
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(cookie_header.decode("latin-1"))
            except Exception:   # a garbled cookie header just means "no choice"
                cookie = SimpleCookie()
            if LANGUAGE_COOKIE in cookie and cookie[LANGUAGE_COOKIE].value in LANGUAGES:
                language = cookie[LANGUAGE_COOKIE].value
        if language is None:
            accept = headers.get(b"accept-language", b"").decode("latin-1")
            language = negotiate(accept, self.default) if accept else self.default
        scope["language"] = language
        token = current_language.set(language)
        try:
            await self.app(scope, receive, send)
        finally:
            current_language.reset(token)
