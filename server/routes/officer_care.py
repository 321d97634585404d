"""The 1+X+100 duty of care on officers' phones: each cadre's members and when they were
last in touch, the chair's table of cadres, logging a visit or call, marking a member left."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import member_for_officer, require_officer
from server.errors import DomainError
from server.models import Officer, Role
from server.routes.officer import NO_STORE, client_ip
from server.services import care, moves
from server.validation import mask_phone, small_int
from server.web.forms import form_dict, read_form
from server.web.templating import render


def _project_officer(officer: Officer) -> None:
    if not officer.union.is_project:
        raise HTTPException(404)


def _limits() -> dict[str, int]:
    return {"note": care.MAX_NOTE, "reason": moves.MAX_REASON,
            "recent_days": care.RECENT.days}


async def care_page(request: Request) -> Response:
    """A cadre's own members (never contacted first); a chair's table of cadres, or one
    cadre's list with ?cadre=ID."""
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    _project_officer(officer)
    now = datetime.now(UTC)
    context: dict[str, object] = {"now": now, "care_limits": _limits(), "overview": None,
                                  "cadre": None, "rows": [], "days_since": care.days_since,
                                  "mask_phone": mask_phone}
    cadre: Officer | None = officer
    if officer.role == Role.CHAIR:
        wanted = small_int(request.query_params.get("cadre"))
        cadre = await care.cadre_in_project(officer.union, wanted) if wanted else None
        if wanted and cadre is None:
            raise HTTPException(404)
        if cadre is None:
            context["overview"] = await care.overview(officer.union, now)
    if cadre is not None:
        rows = await care.members_of(cadre)
        since = now - care.RECENT
        context.update(cadre=cadre, rows=rows,
                       never=sum(1 for r in rows if r["last_contact_at"] is None),
                       recent=sum(1 for r in rows if r["last_contact_at"] is not None
                                  and r["last_contact_at"] >= since))
    return render(request, "officer/care.html", context, headers=NO_STORE)


async def log_contact(request: Request) -> Response:
    """One tap: 走访 or 电话, with an optional note; offline through the outbox."""
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    data = form_dict(await read_form(request))
    new, errors = care.clean_contact(data)
    if new is not None:
        try:
            await care.log_contact(officer, member, new, ip=client_ip(request))
        except DomainError as exc:
            errors = exc.as_errors()
    if errors:
        return render(request, "officer/care_error.html",
                      {"m": member, "errors": errors, "back": _back(data, member.id)},
                      status_code=409 if "form" in errors else 422, headers=NO_STORE)
    return RedirectResponse(_back(data, member.id), status_code=303)


def _back(data: dict[str, object], member_id: int) -> str:
    """Back to the list the tap came from (at the member's row) or the member's page."""
    if data.get("back") == "member":
        return f"/officer/members/{member_id}#care"
    cadre = small_int(data.get("cadre"))
    return (f"/officer/care?cadre={cadre}" if cadre else "/officer/care") + f"#m{member_id}"


async def mark_left(request: Request) -> Response:
    """离场 marked by the member's cadre or a chair, with a reason; on the audit record."""
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    if not moves.may_mark_left(officer, member):
        raise HTTPException(403)
    data = form_dict(await read_form(request))
    reason, errors = moves.clean_reason(data)
    if not errors:
        try:
            await moves.leave(member, by=officer, reason=reason, ip=client_ip(request))
        except DomainError as exc:
            errors = exc.as_errors()
    if errors:
        return render(request, "officer/care_error.html",
                      {"m": member, "errors": errors,
                       "back": f"/officer/members/{member.id}#leave"},
                      status_code=409 if "form" in errors else 422, headers=NO_STORE)
    return RedirectResponse(f"/officer/members/{member.id}", status_code=303)


routes = [
    Route("/officer/care", care_page),
    Route("/officer/members/{member_id:int}/contacts", log_contact, methods=["POST"]),
    Route("/officer/members/{member_id:int}/leave", mark_left, methods=["POST"]),
]
