"""Reading forms: size-limited parsing and the CSRF check, in one place for every POST."""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FIELDS = 60
MAX_FILES = 3


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the page that shows a form)."""
    if "session" not in request.scope:
        return ""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


async def read_form(request: Request) -> FormData:
    """Parse the body and refuse it (403) unless it carries the session's CSRF token."""
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(
        sent.encode(), expected.encode()
    ):
        raise HTTPException(403, detail="csrf")
    return form


def form_dict(form: FormData) -> dict[str, object]:
    """Single-valued fields as a dict (a repeated field keeps its first value).

    NUL characters are dropped here, once for every form: no database text type can hold
    them (PostgreSQL refuses the whole statement), and no person types them.
    """
    data: dict[str, object] = {}
    for key, value in form.multi_items():
        data.setdefault(key, value.replace("\x00", "") if isinstance(value, str) else value)
    return data


def query_text(request: Request, name: str, max_length: int) -> str:
    """A query-string value made safe to search with (no NUL, bounded length)."""
    return request.query_params.get(name, "").replace("\x00", "").strip()[:max_length]
