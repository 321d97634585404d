"""Reading forms: size-limited parsing and the CSRF check, in one place for every POST."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request

from server.services import voice as voices
from server.services.photos import (
    MAX_PHOTOS,
    MAX_UPLOAD_BYTES,
    NO_PHOTOS,
    CleanedPhotos,
    clean_photos,
)
from server.web.sessions import state_of

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_FIELDS = 60
# Above any form's own limit (3 photos and a voice message): a fifth file reaches the form's
# check, which says so and keeps what was typed, instead of the parser's bare 400. The body
# size limit (BodyLimitMiddleware) bounds the bytes whatever the count.
MAX_FILES = 10


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (the page that shows a form). A new one
    comes with every sign-in (server.web.sessions), so a token seen before it is refused."""
    state = state_of(request)
    return state.csrf() if state is not None else ""


def check_csrf(request: Request, sent: object) -> None:
    """Refuse (403) unless `sent` is the session's CSRF token."""
    state = state_of(request)
    expected = state.expected_csrf() if state is not None else None
    if not isinstance(sent, str) or not isinstance(expected, str) or not hmac.compare_digest(
        sent.encode(), expected.encode()
    ):
        raise HTTPException(403, detail="csrf")


async def read_form(request: Request) -> FormData:
    """Parse the body and refuse it (403) unless it carries the session's CSRF token."""
    form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    check_csrf(request, form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    return form


async def upload(form: FormData, name: str, max_bytes: int) -> bytes | None:
    """The one file sent under `name`, read to one byte past `max_bytes`; None if none."""
    value = form.get(name)
    if isinstance(value, UploadFile) and (value.filename or value.size):
        return await value.read(max_bytes + 1)
    return None


async def uploads(form: FormData, name: str, max_bytes: int,
                  max_count: int | None = None) -> list[tuple[bytes, str]]:
    """The files sent under `name` (bytes, file name), each read to one byte past
    `max_bytes`: enough to know it is too big, no more. An empty file input sends nothing.
    More than `max_count` files are refused by their number (the cleaning step says so):
    none of them is read."""
    chosen = [value for value in form.getlist(name)
              if isinstance(value, UploadFile) and (value.filename or value.size)]
    if max_count is not None and len(chosen) > max_count:
        return [(b"", value.filename or "") for value in chosen]
    return [(await value.read(max_bytes + 1), value.filename or "") for value in chosen]


@dataclass(frozen=True)
class BatchItem:
    id: str
    fields: dict[str, object]


async def request_attachments(form: FormData,
                              wanted: bool) -> tuple[CleanedPhotos, voices.CleanedVoice]:
    """A request form's photos and voice message, read and checked (the worker's form and the
    cadre's on-behalf one alike). The photo fields are always read (their size limits hold
    for everyone); decoding is the costly part, so nothing is checked when `wanted` is false,
    for a member who may not file (refused later)."""
    raw_photos = await uploads(form, "photo", MAX_UPLOAD_BYTES, MAX_PHOTOS)
    if not wanted:
        return NO_PHOTOS, voices.NO_VOICE
    photos = await clean_photos(raw_photos)
    return photos, await voices.clean_upload(await upload(form, "voice", voices.MAX_BYTES))


async def read_batch(request: Request, max_items: int) -> list[BatchItem]:
    """A JSON batch of queued forms from the outbox: `{"items": [{"id", "fields": [[k, v]]}]}`.

    The CSRF token comes in the header: a JSON body cannot be sent cross-site without a
    CORS preflight, and the header check holds even so. Each item's fields are cleaned as
    `form_dict` cleans a form, so a batched item is judged exactly like the same form sent
    alone. A malformed batch is refused whole (400); the outbox then sends its items one
    by one and each gets its own answer. Two items under one outbox id make a batch
    malformed: answers are matched to items by id, so one of the two would go unanswered.
    """
    check_csrf(request, request.headers.get(CSRF_HEADER, ""))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415)
    try:
        payload = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise HTTPException(400) from None
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not 0 < len(items) <= max_items:
        raise HTTPException(400)
    batch: list[BatchItem] = []
    for item in items:
        if not isinstance(item, dict):
            raise HTTPException(400)
        pairs = item.get("fields")
        if not isinstance(item.get("id"), str) or not isinstance(pairs, list) or (
                len(pairs) > MAX_FIELDS):
            raise HTTPException(400)
        fields: dict[str, object] = {}
        for pair in pairs:
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(x, str) for x in pair)):
                raise HTTPException(400)
            fields.setdefault(pair[0], pair[1].replace("\x00", ""))
        batch.append(BatchItem(item["id"][:64], fields))
    if len({item.id for item in batch}) != len(batch):
        raise HTTPException(400)
    return batch


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
