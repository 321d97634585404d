"""Canned replies (常用回复): the project chair keeps the list, the cadres read it here and
pick from it on the request page (templates/officer/_canned_replies.html)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import (
    canned_project,
    canned_reply_for_chair,
    may_keep_canned,
    require_officer,
)
from server.errors import DomainError
from server.models import Role
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, canned
from server.web.forms import form_dict, read_form
from server.web.templating import render

ACTIONS = ("edit", "delete", "up", "down")


async def _page(request: Request, errors: dict[str, str] | None = None, text: str = "",
                failed: int | None = None, status: int = 200) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    project = canned_project(officer)
    if project is None:
        raise HTTPException(404)
    return render(request, "officer/canned.html", {
        "replies": await canned.replies_for(project.id), "may_keep": may_keep_canned(officer),
        "errors": errors or {}, "text": text, "failed": failed,
        "max_replies": canned.MAX_REPLIES, "max_text": canned.MAX_TEXT,
        "saved": request.query_params.get("saved") == "1",
    }, status_code=status, headers=NO_STORE)


async def page(request: Request) -> Response:
    return await _page(request)


async def add(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR)
    if not may_keep_canned(officer):
        raise HTTPException(403)
    data = form_dict(await read_form(request))
    try:
        text = canned.clean_text(data)
        reply = await canned.add(officer, officer.union, text)
    except DomainError as exc:
        return await _page(request, exc.as_errors(), str(data.get("text", ""))[:1000],
                           status=exc.status)
    await audit.record(officer, "canned.add", reply, ip=client_ip(request), text=text)
    return RedirectResponse("/officer/canned?saved=1", status_code=303)


async def act(request: Request) -> Response:
    action = request.path_params["action"]
    if action not in ACTIONS:
        raise HTTPException(404)
    officer = await require_officer(request, Role.CHAIR)
    reply = await canned_reply_for_chair(officer, int(request.path_params["reply_id"]))
    data = form_dict(await read_form(request))
    detail: dict[str, object] = {}
    if action == "edit":
        try:
            text = canned.clean_text(data)
        except DomainError as exc:
            return await _page(request, exc.as_errors(), str(data.get("text", ""))[:1000],
                               failed=reply.id, status=422)
        await canned.edit(officer, reply, text)
        detail = {"before": reply.text, "text": text}
    elif action == "delete":
        await canned.delete(reply)
        detail = {"text": reply.text}
    elif not await canned.move(reply, canned.Move(action)):
        return RedirectResponse("/officer/canned", status_code=303)
    await audit.record(officer, f"canned.{action}", reply, ip=client_ip(request), **detail)
    return RedirectResponse("/officer/canned?saved=1", status_code=303)


routes = [
    Route("/officer/canned", page, methods=["GET"]),
    Route("/officer/canned", add, methods=["POST"]),
    Route("/officer/canned/{reply_id:int}/{action:str}", act, methods=["POST"]),
]
