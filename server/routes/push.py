"""Web Push: the VAPID key, subscribing and unsubscribing a browser, and the chair's delivery
log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server.access import current_member, current_officer, require_officer
from server.errors import DomainError
from server.i18n import gettext
from server.models import Member, Officer, Role
from server.routes.officer import NO_STORE
from server.services import delivery, push, sms
from server.web.forms import CSRF_HEADER, check_csrf
from server.web.sessions import state_of
from server.web.templating import render


async def _json_body(request: Request) -> object:
    check_csrf(request, request.headers.get(CSRF_HEADER, ""))
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415)
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise HTTPException(400) from None


async def _owner(request: Request) -> tuple[Member | None, Officer | None]:
    """Everyone signed in on this browser: a cadre who is also a member on their own phone
    gets both their pushes there, whichever inbox page they turned pushes on from."""
    member = await current_member(request)
    officer = await current_officer(request)
    if member is None and officer is None:
        raise HTTPException(403, detail=gettext("请先登录"))
    return member, officer


async def key(request: Request) -> Response:
    return Response(push.public_key(request.app.state.settings), media_type="text/plain",
                    headers={"Cache-Control": "no-cache"})


async def csrf(request: Request) -> Response:
    """The session's CSRF token, for the service worker: when the browser renews a push
    subscription (`pushsubscriptionchange`, sw/sw.js) there is no page to read the token
    from, and a token the worker kept from an old page goes stale at every sign-in.

    Why this is sound: it is the same token every page of this site carries in its HTML,
    and the same thing protects it here as there: only script of this origin can read a
    response (no CORS headers, JSON object, nosniff), while a forged cross-site request
    carries the cookie but never learns the token. Only for a browser already signed in:
    a visitor without a session gets 403, not a token made for the occasion."""
    state = state_of(request)
    token = state.expected_csrf() if state is not None and state.live() else None
    if token is None:
        raise HTTPException(403)
    return JSONResponse({"csrf": token}, headers=NO_STORE)


async def subscribe(request: Request) -> Response:
    """Subscribe this browser; with `old_endpoint` (a renewed subscription, sent by the
    service worker) the old one is dropped, but only if it belongs to whoever is signed in
    here: nobody can unsubscribe another person's phone by naming its endpoint."""
    member, officer = await _owner(request)
    data = await _json_body(request)
    try:
        new = push.clean(data, request.app.state.settings)
    except DomainError as exc:
        return JSONResponse({"error": exc.message, "field": exc.field}, status_code=exc.status)
    row = await push.subscribe(new, member=member, officer=officer)
    old = data.get("old_endpoint") if isinstance(data, dict) else None
    replaced = False
    if isinstance(old, str) and old and old != new.endpoint:
        replaced = await push.replace(old, row, member=member, officer=officer)
    return JSONResponse({"ok": True, "id": row.id, "replaced": replaced}, status_code=201,
                        headers=NO_STORE)


async def unsubscribe(request: Request) -> Response:
    member, officer = await _owner(request)
    data = await _json_body(request)
    endpoint = data.get("endpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str):
        raise HTTPException(400)
    removed = await push.unsubscribe(endpoint, member=member, officer=officer)
    return JSONResponse({"ok": True, "removed": removed}, headers=NO_STORE)


async def delivery_log(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.ADMIN)
    project_id = None if officer.role == Role.ADMIN else officer.union.id
    since = datetime.now(UTC) - timedelta(days=7)
    return render(request, "officer/deliveries.html", {
        "counts": await delivery.counts(since, project_id),
        "rows": await delivery.latest(project_id),
        "sms_month": await sms.this_month(),
        "status_labels": delivery.STATUS_LABELS}, headers=NO_STORE)


routes = [
    Route("/push/key", key),
    Route("/push/csrf", csrf),
    Route("/push/subscriptions", subscribe, methods=["POST"]),
    Route("/push/subscriptions/delete", unsubscribe, methods=["POST"]),
    Route("/officer/deliveries", delivery_log),
]
