"""The worker's requests: file one (works offline through the outbox), follow it, answer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import (
    current_officer,
    request_for_member,
    request_for_officer,
    require_member,
)
from server.errors import DomainError
from server.i18n import N_, gettext
from server.labels import CATEGORY_LABELS
from server.models import Category, Member, MemberStatus, RequestPhoto, ServiceRequest
from server.services import contacts, inbox, lifecycle, notices, partners, shared
from server.services import requests as svc
from server.services import voice as voices
from server.services.photos import MAX_PHOTOS, NO_PHOTOS
from server.validation import Cleaner, small_int
from server.web.forms import form_dict, read_batch, read_form, request_attachments
from server.web.forms import upload as form_upload
from server.web.media import bytes_response
from server.web.middleware import MICROPHONE
from server.web.templating import render

PAGE_SIZE = 30


def _form_context(values: Mapping[str, object], errors: dict[str, str]) -> dict[str, object]:
    return {"values": values, "errors": errors, "categories": list(Category),
            "max_photos": MAX_PHOTOS}


async def new_form(request: Request) -> Response:
    member = await require_member(request)
    values: dict[str, object] = {"category": request.query_params.get("category", "")}
    return render(request, "requests/new.html",
                  {**_form_context(values, {}), "active": member.status == MemberStatus.ACTIVE,
                   "left": member.status == MemberStatus.LEFT},
                  fragment="requests/_form.html", headers=MICROPHONE)


async def new_submit(request: Request) -> Response:
    member = await require_member(request)
    form = await read_form(request)
    data = form_dict(form)
    cleaned, voice = await request_attachments(form, member.status == MemberStatus.ACTIVE)
    new, errors, photos = svc.clean_new_request(data, cleaned, voice)
    status = 422
    if new is not None:
        try:
            filed = await svc.file_request(member, new, photos)
        except DomainError as exc:
            # 429 (over the hour's quota) tells the outbox to keep the item and retry.
            errors, status = exc.as_errors(), exc.status
        else:
            return RedirectResponse(f"/requests/{filed.request.id}", status_code=303)
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    return render(request, "requests/new.html",
                  {**_form_context(values, errors), "active": True},
                  status_code=status, fragment="requests/_form.html", headers=MICROPHONE)


async def sync_new(request: Request) -> Response:
    """The outbox's batch of queued new requests (no photos): one round trip and one
    transaction for many, with an answer per item that means what the single POST's
    status would have meant (201/200 synced, 4xx needs attention)."""
    member = await require_member(request)
    batch = await read_batch(request, svc.MAX_BATCH)
    answers: list[dict[str, object]] = []
    valid: list[tuple[int, svc.NewRequest]] = []
    for position, item in enumerate(batch):
        new, errors, _ = svc.clean_new_request(item.fields, NO_PHOTOS)
        answers.append({"id": item.id})
        if new is None:
            answers[-1].update(status=422, message="；".join(errors.values()), errors=errors)
        else:
            valid.append((position, new))
    filed = await svc.file_requests(member, [new for _, new in valid])
    for (position, _), outcome in zip(valid, filed, strict=True):
        if isinstance(outcome, DomainError):
            answers[position].update(status=outcome.status, message=outcome.message,
                                     errors=outcome.as_errors())
        else:
            answers[position].update(status=201 if outcome.created else 200,
                                     location=f"/requests/{outcome.request_id}")
    return JSONResponse({"results": answers})


async def my_requests(request: Request) -> Response:
    member = await require_member(request)
    page = max(1, min(small_int(request.query_params.get("page")) or 1, 1000))
    query = ServiceRequest.filter(member_id=member.id)
    total = await query.count()
    # With the project: a member who moved sees where each earlier request was filed.
    rows = await query.order_by("-id").offset((page - 1) * PAGE_SIZE).limit(
        PAGE_SIZE).select_related("project")
    answers = await lifecycle.last_answer_times(rows)
    return render(request, "requests/list.html", {
        "rows": rows, "updated": answers, "total": total, "page": page, "page_size": PAGE_SIZE,
        # For the page script that lists requests still waiting in this phone's outbox.
        "category_names": {c.value: gettext(CATEGORY_LABELS[c]) for c in Category},
        "params": request.query_params, "now": datetime.now(UTC),
        "calls": await contacts.for_member(member),
        "shared": await shared.open_for(member),
    }, fragment="requests/_list.html")


async def detail(request: Request) -> Response:
    request_id = int(request.path_params["request_id"])
    officer = await current_officer(request)
    if officer is not None:
        return RedirectResponse(f"/officer/requests/{request_id}", status_code=303)
    member = await require_member(request)
    item = await request_for_member(member, request_id)
    unread_from = item.worker_seen_event_id
    context = await _worker_context(member, item)
    await lifecycle.mark_seen_by_worker(item)
    return render(request, "requests/detail.html", {
        **context, "unread_from": unread_from, "error": "", "error_action": "", "note": "",
        "comment": ""},
        fragment="requests/_timeline.html", headers=MICROPHONE)


async def _worker_context(member: Member, item: ServiceRequest) -> dict[str, object]:
    events = privacy.worker_timeline(await lifecycle.events_of(item))
    photos = await RequestPhoto.filter(request_id=item.id).order_by("id").values_list(
        "id", flat=True)
    on_behalf = next((n for n in (privacy.on_behalf_note(member, e) for e in events) if n), "")
    return {"item": item, "events": events, "photo_ids": photos, "on_behalf": on_behalf,
            "voices": privacy.voices_for(member, await voices.refs_of(item.id)),
            "calls": await contacts.for_request(member, item),
            "actions": lifecycle.worker_actions(item),
            "followed": await lifecycle.followed(item),
            "consent_questions": await partners.pending_questions(item)}


async def worker_action(request: Request) -> Response:
    member = await require_member(request)
    item = await request_for_member(member, int(request.path_params["request_id"]))
    action = request.path_params["action"]
    if action not in lifecycle.WORKER_TRANSITIONS:
        raise HTTPException(404)
    form = await read_form(request)
    data = form_dict(form)
    voice = voices.NO_VOICE
    if action in lifecycle.VOICE_ACTIONS:
        voice = await voices.clean_upload(await form_upload(form, "voice", voices.MAX_BYTES))
    note, error = lifecycle.clean_note(data)
    c = Cleaner(data)
    comment = c.text("rating_comment", required=False, max_length=lifecycle.MAX_RATING_COMMENT,
                     label=N_("评价"), multiline=True)
    client_id = c.client_id() if data.get("client_id") else None
    rating = small_int(data.get("rating"))
    error = "; ".join(e for e in (error, *c.errors.values(), voice.error) if e)
    if not error:
        data_in = lifecycle.ActionInput(note=note, rating=rating, client_id=client_id,
                                        rating_comment=comment, voice=voice.voice)
        try:
            if action == "confirm":
                await lifecycle.confirm_and_rate(member, item, data_in)
            else:
                await lifecycle.apply_worker_action(member, item, action, data_in)
        except DomainError as exc:
            error = exc.message
    if not error:
        return RedirectResponse(f"/requests/{item.id}", status_code=303)
    item = await request_for_member(member, item.id)
    return render(request, "requests/detail.html", {
        **await _worker_context(member, item), "unread_from": item.worker_seen_event_id,
        # What was typed comes back with the message, next to the button that was pressed.
        "error": error, "error_action": action, "note": note, "comment": comment,
    }, status_code=422, fragment="requests/_timeline.html", headers=MICROPHONE)


async def voice_clip(request: Request) -> Response:
    """A voice message, for the worker whose request it is and the union officers who may
    open the request; management and the upper union never hear one (nor learn that there
    is one: 404, as for a request they may not open)."""
    request_id = int(request.path_params["request_id"])
    officer = await current_officer(request)
    if officer is not None:
        if not privacy.hears_voices(officer):
            raise HTTPException(404)
        item = await request_for_officer(officer, request_id)
    else:
        item = await request_for_member(await require_member(request), request_id)
    found = await voices.clip(item.id, int(request.path_params["voice_id"]))
    if found is None:
        raise HTTPException(404)
    return bytes_response(request, found.data, found.content_type,
                          {"Cache-Control": "private, max-age=86400"})


async def photo(request: Request) -> Response:
    """A request's photo, for its worker or an officer who may see who filed it."""
    request_id = int(request.path_params["request_id"])
    officer = await current_officer(request)
    if officer is not None:
        if not officer.sees_identities:
            raise HTTPException(403)
        item = await request_for_officer(officer, request_id)
    else:
        item = await request_for_member(await require_member(request), request_id)
    found = await RequestPhoto.get_or_none(id=int(request.path_params["photo_id"]),
                                           request_id=item.id)
    if found is None:
        raise HTTPException(404)
    return Response(found.data, media_type=found.content_type,
                    headers={"Cache-Control": "private, max-age=86400"})


async def badges(request: Request) -> Response:
    member = await require_member(request)
    # Answers on their requests and notices not yet opened: what the inbox shows as new.
    unread = (await inbox.unread_count(member_id=member.id)
              + await notices.unread_count(member))
    return render(request, "partials/_member_badge.html", {"unread": unread},
                  headers={"Cache-Control": "no-store"})


routes = [
    Route("/requests", my_requests, methods=["GET"]),
    Route("/requests", new_submit, methods=["POST"]),
    Route("/requests/new", new_form, methods=["GET"]),
    Route("/requests/new", new_submit, methods=["POST"]),
    Route("/requests/sync", sync_new, methods=["POST"]),
    Route("/requests/{request_id:int}", detail),
    Route("/requests/{request_id:int}/photos/{photo_id:int}", photo),
    Route("/requests/{request_id:int}/voices/{voice_id:int}", voice_clip),
    Route("/requests/{request_id:int}/{action:str}", worker_action, methods=["POST"]),
    Route("/me/badges", badges),
]
