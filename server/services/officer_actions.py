"""Officer actions sent from the outbox (issue 11): what an outbox item carries besides the
action itself, and how a conflict is told back (both states: what the officer queued, and
what the request is now).

The rules deciding a conflict are the lifecycle's (`lifecycle.Conflict`); this module only
reads the form's outbox fields and shapes the answer, for the panel (HTML) and for the
outbox's background send (JSON).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from server import labels, privacy
from server.errors import invalid_form_key_message
from server.i18n import gettext
from server.models import EventKind, Officer, RequestEvent
from server.services.lifecycle import Conflict

# last_event_id is a BIGINT: more digits than a form id.
_MAX_SEEN_DIGITS = 18


@dataclass(frozen=True)
class Queued:
    client_id: uuid.UUID | None
    seen: int | None
    error: str = ""


def clean_queued(officer: Officer, data: Mapping[str, object]) -> Queued:
    """The outbox fields of an officer's action form: its client_id (the idempotency key),
    `seen` (the request's last_event_id on the officer's screen) and `queued_by` (the
    officer it was queued under). An item queued under another officer is never sent under
    this one: a phone handed over without signing out keeps the first officer's items."""
    raw_id = str(data.get("client_id", "") or "").strip()
    client_id: uuid.UUID | None = None
    if raw_id:
        try:
            client_id = uuid.UUID(raw_id)
        except ValueError:
            return Queued(None, None, invalid_form_key_message())
    raw_seen = str(data.get("seen", "") or "").strip()
    seen = (int(raw_seen) if raw_seen.isascii() and raw_seen.isdigit()
            and len(raw_seen) <= _MAX_SEEN_DIGITS else None)
    queued_by = str(data.get("queued_by", "") or "").strip()
    if queued_by and queued_by != str(officer.id):
        return Queued(client_id, seen, gettext(
            "这条操作是另一位干部在这部手机上留下的，没有用你的账号发送"))
    return Queued(client_id, seen)


def action_label(action: str) -> str:
    return gettext(labels.OFFICER_ACTION_LABELS.get(action, action))


async def _since_views(officer: Officer, conflict: Conflict) -> list[privacy.EventView]:
    """What happened since the officer's view, as this officer may read it."""
    events = await RequestEvent.filter(id__in=[e.id for e in conflict.since]).order_by(
        "id").select_related("actor")
    view = privacy.request_view(officer, conflict.request)
    return privacy.timeline(officer, events, view.filer)


def conflict_view(action: str, note: str, conflict: Conflict) -> dict[str, Any]:
    """Both states for the panel: the officer's action, and the request now (its timeline
    on the same page shows what happened since, marked by `seen`)."""
    return {"action": action_label(action), "note": note, "message": conflict.message,
            "status": labels.request_status_label(conflict.request.status),
            "may_retry": conflict.may_retry,
            "since": {e.id for e in conflict.since}}


async def conflict_json(officer: Officer, action: str, note: str,
                        conflict: Conflict) -> dict[str, Any]:
    """The outbox's answer for an item not applied (409): its message, as for any refused
    item, and both states for the "needs attention" entry (docs/contract.md)."""
    request = conflict.request
    return {
        "message": conflict.message, "errors": {"form": conflict.message},
        "conflict": {
            "request": request.id, "url": f"/officer/requests/{request.id}",
            "queued": {"action": action, "label": action_label(action), "note": note},
            "now": {
                "status": str(request.status),
                "status_label": labels.request_status_label(request.status),
                "last_event_id": request.last_event_id,
                "since": [{"when": labels.localtime(e.created_at),
                           "what": gettext(labels.EVENT_LABELS.get(e.kind, e.kind)),
                           "who": e.who, "note": e.note}
                          for e in await _since_views(officer, conflict)],
            },
            "may_retry": conflict.may_retry,
        },
    }


async def taken_away(officer: Officer, request_id: int) -> bool:
    """Whether `request_id` was this officer's and was given to someone else (re-assigned,
    or handed over): their queued action on it is answered as a conflict, not a bare 404."""
    moves = await RequestEvent.filter(
        request_id=request_id, kind__in=[EventKind.REASSIGNED, EventKind.HANDED_OVER]
    ).values_list("detail", flat=True)
    return any(isinstance(d, dict) and d.get("from") == officer.id for d in moves)


def taken_away_message() -> str:
    return gettext("这条诉求已经换给别的干部负责，你排队的操作没有执行")


def taken_away_json(request_id: int, action: str, data: Mapping[str, object]) -> dict[str, Any]:
    message = taken_away_message()
    return {
        "message": message, "errors": {"form": message},
        "conflict": {
            "request": request_id, "url": "/officer/requests",
            "queued": {"action": action, "label": action_label(action),
                       "note": str(data.get("note", ""))[:2000]},
            "now": {"status": "", "status_label": gettext("已不归你负责"),
                    "last_event_id": 0, "since": []},
            "may_retry": False,
        },
    }
