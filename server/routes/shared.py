"""Shared problems ("我也遇到") for workers and officers, and undoing a duplicate link."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import (
    member_scope,
    request_for_officer,
    require_member,
    require_officer,
    shared_for_member,
    shared_for_officer,
    shared_scope,
)
from server.errors import DomainError
from server.models import Member, Officer, ServiceRequest, SharedProblem
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, lifecycle
from server.services import shared as svc
from server.validation import Cleaner, small_int
from server.web.forms import form_dict, read_form
from server.web.templating import render

# --- workers --------------------------------------------------------------------------------


async def _worker_context(member: Member, problem: SharedProblem) -> dict[str, Any]:
    return {"problem": problem, "joined": await svc.has_joined(member, problem),
            "updates": await svc.updates_of(problem), "error": ""}


async def worker_detail(request: Request) -> Response:
    member = await require_member(request)
    problem = await shared_for_member(member, int(request.path_params["problem_id"]))
    await svc.mark_read(member, problem)
    return render(request, "shared/detail.html", await _worker_context(member, problem),
                  fragment="shared/_detail.html")


async def worker_join(request: Request) -> Response:
    """"我也遇到": one tap, from the outbox when offline (client_id makes it once)."""
    member = await require_member(request)
    problem = await shared_for_member(member, int(request.path_params["problem_id"]))
    data = form_dict(await read_form(request))
    try:
        await svc.join(member, problem, Cleaner(data).client_id())
    except DomainError as exc:
        return render(request, "shared/detail.html",
                      {**await _worker_context(member, problem), "error": exc.message},
                      status_code=exc.status, fragment="shared/_detail.html")
    return RedirectResponse(f"/shared/{problem.id}", status_code=303)


# --- officers -------------------------------------------------------------------------------


async def _source(officer: Officer, raw: object) -> ServiceRequest | None:
    """The request a problem is published from, if the officer may open it (else 404)."""
    request_id = small_int(raw)
    return await request_for_officer(officer, request_id) if request_id else None


async def officer_list(request: Request) -> Response:
    officer = await require_officer(request)
    rows = await SharedProblem.filter(shared_scope(officer)).order_by("status", "-id").limit(
        100).select_related("project")
    source = await _source(officer, request.query_params.get("from_request"))
    return render(request, "officer/shared_list.html", {
        "rows": rows, "may_publish": svc.may_publish(officer), "source": source,
        "values": {}, "errors": {}}, headers=NO_STORE)


async def officer_publish(request: Request) -> Response:
    officer = await require_officer(request)
    data = form_dict(await read_form(request))
    source = await _source(officer, data.get("request_id"))
    new, errors = svc.clean_new(data)
    status = 422
    if new is not None:
        try:
            problem, created = await svc.publish(officer, new, source)
        except DomainError as exc:
            errors, status = exc.as_errors(), exc.status
        else:
            if created:
                await audit.record(officer, "shared.publish", problem, ip=client_ip(request),
                                   request=source.id if source else None)
            return RedirectResponse(f"/officer/shared/{problem.id}", status_code=303)
    rows = await SharedProblem.filter(shared_scope(officer)).order_by("status", "-id").limit(
        100).select_related("project")
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    return render(request, "officer/shared_list.html", {
        "rows": rows, "may_publish": svc.may_publish(officer), "source": source,
        "values": values, "errors": errors}, status_code=status, headers=NO_STORE)


async def _officer_context(officer: Officer, problem: SharedProblem, error: str = "",
                           error_action: str = "", note: str = "") -> dict[str, Any]:
    names: list[str] = []
    if officer.sees_identities:
        names = await svc.joined_names(problem, member_scope(officer))
    return {"problem": problem, "affected": await svc.affected(officer, problem),
            "names": names, "shows_names": officer.sees_identities,
            "updates": await svc.updates_of(problem),
            "may_manage": svc.may_manage(officer, problem),
            # The request it came from: only for those who may see requests one by one.
            "source_id": (problem.source_request_id  # type: ignore[attr-defined]
                          if not privacy.is_outside(officer) else None),
            "error": error, "error_action": error_action, "note": note}


async def officer_detail(request: Request) -> Response:
    officer = await require_officer(request)
    problem = await shared_for_officer(officer, int(request.path_params["problem_id"]))
    return render(request, "officer/shared.html", await _officer_context(officer, problem),
                  fragment="officer/_shared_panel.html", headers=NO_STORE)


async def officer_post(request: Request) -> Response:
    """An update or the closing outcome: public, and in the inbox of everyone who joined."""
    officer = await require_officer(request)
    problem = await shared_for_officer(officer, int(request.path_params["problem_id"]))
    action = request.path_params["action"]
    if action not in {"update", "close"}:
        raise HTTPException(404)
    note, error = svc.clean_note(form_dict(await read_form(request)))
    if not error:
        try:
            await svc.post(officer, problem, note, close=action == "close")
        except DomainError as exc:
            error = exc.message
        else:
            await audit.record(officer, f"shared.{action}", problem, ip=client_ip(request))
            return RedirectResponse(f"/officer/shared/{problem.id}", status_code=303)
    return render(request, "officer/shared.html",
                  await _officer_context(officer, problem, error, action, note),
                  status_code=422, fragment="officer/_shared_panel.html", headers=NO_STORE)


async def links_context(officer: Officer, item: ServiceRequest) -> dict[str, Any]:
    """What `officer/_request_links.html` shows on a request's officer page: the request it
    follows or those following it, and whether this officer may unlink or publish it as a
    shared problem. Nothing for readers outside the union (they see requests, not links
    between people's requests)."""
    if privacy.is_outside(officer):
        return {"master_id": None, "follower_ids": [], "may_unlink": False,
                "may_share": False}
    master_id, follower_ids = await lifecycle.links_of(item)
    return {"master_id": master_id, "follower_ids": follower_ids,
            "may_unlink": lifecycle.may_unlink(officer, item),
            "may_share": svc.may_publish(officer)
            and officer.union.id == item.project_id}  # type: ignore[attr-defined]


async def unlink(request: Request) -> Response:
    """Undo "duplicate" (audited): the request is handled on its own again."""
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    note, _ = lifecycle.clean_note(form_dict(await read_form(request)))
    master = item.duplicate_of_id  # type: ignore[attr-defined]
    try:
        await lifecycle.unlink(officer, item, note)
    except DomainError:
        raise HTTPException(409) from None
    await audit.record(officer, "request.unlink", item, ip=client_ip(request), master=master)
    return RedirectResponse(f"/officer/requests/{item.id}", status_code=303)


routes = [
    Route("/shared/{problem_id:int}", worker_detail),
    Route("/shared/{problem_id:int}/join", worker_join, methods=["POST"]),
    Route("/officer/shared", officer_list),
    Route("/officer/shared", officer_publish, methods=["POST"]),
    Route("/officer/shared/{problem_id:int}", officer_detail),
    Route("/officer/shared/{problem_id:int}/{action:str}", officer_post, methods=["POST"]),
    # Before officer_requests: its /officer/requests/{id}/{action} would take this path.
    Route("/officer/requests/{request_id:int}/unlink", unlink, methods=["POST"]),
]
