"""Notices and the inbox: officers publish and follow receipts; workers read, acknowledge and
see everything that concerns them in one list."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import notice_for_officer, require_member, require_officer
from server.errors import DomainError
from server.models import Notice, NoticePhoto, Officer, Role, Team
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, inbox, notices, rota, summary
from server.services.photos import MAX_UPLOAD_BYTES, clean_photos
from server.validation import Cleaner
from server.web.forms import form_dict, read_form, uploads
from server.web.templating import render

PUBLISHERS = (Role.CHAIR, Role.CADRE, Role.UPPER)


def _form_context(officer: Officer, teams: list[Team], values: Mapping[str, object],
                  errors: dict[str, str]) -> dict[str, object]:
    return {"values": values, "errors": errors, "teams": teams,
            "scopes": notices.allowed_scopes(officer), "kinds": list(notices.KIND_LABELS),
            "notice_labels": notices}


async def _teams(officer: Officer) -> list[Team]:
    if not officer.union.is_project:
        return []
    return await Team.filter(project_id=officer.union.id).order_by("name")


async def officer_list(request: Request) -> Response:
    officer = await require_officer(request)
    rows = await Notice.filter(notices.for_officer(officer)).order_by("-id").limit(
        100).select_related("author", "team")
    return render(request, "officer/notices.html", {
        "rows": rows, "can_publish": bool(notices.allowed_scopes(officer)),
        "notice_labels": notices}, headers=NO_STORE)


async def new_form(request: Request) -> Response:
    officer = await require_officer(request, *PUBLISHERS)
    if not notices.allowed_scopes(officer):
        raise HTTPException(403)
    teams = await _teams(officer)
    values = {"scope": notices.allowed_scopes(officer)[0].value, "kind": "other"}
    # No personal data on the form: it may be kept for publishing offline.
    return render(request, "officer/notice_new.html",
                  _form_context(officer, teams, values, {}),
                  fragment="officer/_notice_form.html",
                  headers={"Cache-Control": "no-cache, private"})


async def publish(request: Request) -> Response:
    officer = await require_officer(request, *PUBLISHERS)
    teams = await _teams(officer)
    form = await read_form(request)
    data = form_dict(form)
    photos = await clean_photos(await uploads(form, "photo", MAX_UPLOAD_BYTES),
                                limit=notices.MAX_PHOTOS)
    new, errors = notices.clean(data, officer, teams, photos=photos)
    if new is not None:
        try:
            notice, created = await notices.publish(officer, new)
        except DomainError as exc:
            errors = exc.as_errors()
        else:
            if created:
                await audit.record(officer, "notice.publish", notice, ip=client_ip(request),
                                   scope=str(notice.scope))
            return RedirectResponse(f"/officer/notices/{notice.id}", status_code=303)
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    return render(request, "officer/notice_new.html",
                  _form_context(officer, teams, values, errors), status_code=422,
                  fragment="officer/_notice_form.html", headers=NO_STORE)


async def officer_detail(request: Request) -> Response:
    officer = await require_officer(request)
    notice = await notice_for_officer(officer, int(request.path_params["notice_id"]))
    unread = await notices.not_read_by_my_members(notice, officer)
    counted = await notices.receipts(notice)
    receipts = privacy.receipts_for(officer, counted.recipients, counted.read,
                                    counted.acknowledged)
    return render(request, "officer/notice.html", {
        "notice": notice, "receipts": receipts, "unread": unread,
        "photo": await notices.has_photo(notice),
        "follow_up": notice.kind in notices.FOLLOW_UP_KINDS and officer.sees_identities,
        "notice_labels": notices}, headers=NO_STORE)


# --- workers ---------------------------------------------------------------------------------

async def member_list(request: Request) -> Response:
    member = await require_member(request)
    rows = await notices.list_for_member(member)
    read = await notices.read_ids(member, [n.id for n in rows])
    return render(request, "notices/list.html", {"rows": rows, "read": read,
                                                 "notice_labels": notices})


async def member_detail(request: Request) -> Response:
    member = await require_member(request)
    opened = await notices.open_for_member(member, int(request.path_params["notice_id"]))
    if opened is None:
        raise HTTPException(404)
    return render(request, "notices/detail.html", {
        "notice": opened.notice, "acknowledged": opened.acknowledged, "photo": opened.photo,
        "notice_labels": notices, "error": ""}, fragment="notices/_ack.html")


def _photo_response(found: NoticePhoto | None) -> Response:
    if found is None:
        raise HTTPException(404)
    # Private: kept by this phone's browser (and its service worker) for reading offline.
    return Response(found.data, media_type=found.content_type,
                    headers={"Cache-Control": "private, max-age=86400"})


async def member_photo(request: Request) -> Response:
    """A notice's photo, for a member it reaches; 404 for anyone else."""
    member = await require_member(request)
    return _photo_response(await notices.photo_for_member(
        member, int(request.path_params["notice_id"])))


async def officer_photo(request: Request) -> Response:
    officer = await require_officer(request)
    notice = await notice_for_officer(officer, int(request.path_params["notice_id"]))
    return _photo_response(await NoticePhoto.get_or_none(notice_id=notice.id))


async def acknowledge(request: Request) -> Response:
    member = await require_member(request)
    opened = await notices.open_for_member(member, int(request.path_params["notice_id"]))
    if opened is None:
        raise HTTPException(404)
    notice = opened.notice
    c = Cleaner(form_dict(await read_form(request)))
    client_id = c.client_id()
    error = "；".join(c.errors.values())
    if not error:
        try:
            await notices.acknowledge(member, notice, client_id)
        except DomainError as exc:
            error = exc.message
    if not error and request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/notices/{notice.id}", status_code=303)
    return render(request, "notices/detail.html", {
        "notice": notice, "acknowledged": await notices.acknowledged(member, notice),
        "photo": opened.photo, "notice_labels": notices, "error": error},
        status_code=422 if error else 200, fragment="notices/_ack.html")


async def member_inbox(request: Request) -> Response:
    member = await require_member(request)
    items = await inbox.latest(member_id=member.id)
    rows = await notices.list_for_member(member, limit=20)
    read = await notices.read_ids(member, [n.id for n in rows])
    duty = await rota.today(member.project_id)  # type: ignore[attr-defined]
    return render(request, "inbox.html", {
        "items": items, "notices": rows, "read": read, "reasons": inbox.REASON_LABELS,
        "notice_labels": notices, "duty": duty, "duty_prompt": rota.invites_suggestions(duty)})


async def officer_inbox(request: Request) -> Response:
    officer = await require_officer(request)
    items = await inbox.latest(officer_id=officer.id)
    return render(request, "officer/inbox.html", {
        "items": items, "reasons": inbox.REASON_LABELS}, headers=NO_STORE)


async def officer_summary(request: Request) -> Response:
    """每日汇总 of the chair's own project: the latest (what the push opens) or one day's."""
    officer = await require_officer(request, Role.CHAIR)
    raw = request.path_params.get("day")
    try:
        day = date.fromisoformat(raw) if raw is not None else None
    except ValueError:
        raise HTTPException(404) from None
    made = await summary.for_officer(officer, day)
    if made is None:
        if day is not None:
            raise HTTPException(404)
        return render(request, "officer/summary.html", {"made": None}, headers=NO_STORE)
    await summary.mark_read(officer, made)
    return render(request, "officer/summary.html", {
        "made": made, "f": made.figures, "notice_labels": notices}, headers=NO_STORE)


routes = [
    Route("/officer/notices", officer_list),
    Route("/officer/notices/new", new_form, methods=["GET"]),
    Route("/officer/notices/new", publish, methods=["POST"]),
    Route("/officer/notices/{notice_id:int}", officer_detail),
    Route("/officer/notices/{notice_id:int}/photo", officer_photo),
    Route("/officer/inbox", officer_inbox),
    Route("/officer/summary", officer_summary),
    Route("/officer/summary/{day}", officer_summary),
    Route("/notices", member_list),
    Route("/notices/{notice_id:int}", member_detail),
    Route("/notices/{notice_id:int}/photo", member_photo),
    Route("/notices/{notice_id:int}/ack", acknowledge, methods=["POST"]),
    Route("/inbox", member_inbox),
]
