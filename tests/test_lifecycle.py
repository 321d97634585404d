"""The request lifecycle as one module: the only writer of events, and rules that live in
services rather than in routes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from server.errors import DomainError
from server.models import EventKind, Officer, RequestEvent, ServiceRequest
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import CXG_CADRE, XBL_CADRE2, XBL_CHAIR
from tests.factories import make_member, make_request

SERVER = Path(__file__).resolve().parent.parent / "server"
EVENT_WRITES = re.compile(r"RequestEvent\.(create|bulk_create)|INSERT INTO request_event", re.I)


def test_events_are_written_in_one_module() -> None:
    writers = sorted(str(p.relative_to(SERVER)) for p in SERVER.rglob("*.py")
                     if "migrations" not in p.parts and EVENT_WRITES.search(p.read_text()))
    assert writers == ["services/lifecycle.py"]


async def test_reassign_only_to_an_active_cadre_of_the_same_project(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    elsewhere = await Officer.get(phone=CXG_CADRE)
    with pytest.raises(DomainError):
        await apply_officer_action(chair, item, "reassign",
                                   ActionInput(assignee_id=elsewhere.id))
    with pytest.raises(DomainError):  # the chair is not a cadre
        await apply_officer_action(chair, item, "reassign", ActionInput(assignee_id=chair.id))
    colleague = await Officer.get(phone=XBL_CADRE2)
    await apply_officer_action(chair, item, "reassign", ActionInput(assignee_id=colleague.id))
    moved = await ServiceRequest.get(id=item.id)
    assert moved.assignee_id == colleague.id  # type: ignore[attr-defined]
    event = await RequestEvent.get(request_id=item.id, kind=EventKind.REASSIGNED)
    assert event.detail["to"] == colleague.id and not event.public
    assert moved.last_event_id == event.id


def test_services_do_not_speak_http() -> None:
    """Services decide and refuse (DomainError); only the web layer knows about HTTP."""
    speaking = sorted(str(p.relative_to(SERVER)) for p in (SERVER / "services").glob("*.py")
                      if re.search(r"^from starlette|^import starlette", p.read_text(), re.M))
    assert speaking == []


def test_no_route_reads_the_event_model() -> None:
    """Routes get timelines through the lifecycle and privacy modules, never from the table."""
    reading = sorted(p.name for p in (SERVER / "routes").glob("*.py")
                     if "RequestEvent" in p.read_text())
    assert reading == []
