"""Officers' accounts on the web: a chair manages the cadres and managers of the project, an
upper union the chairs below it (who may manage whom: server.access). Accounts are
deactivated, never deleted; passwords are set by their owners with a one-time code."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import (
    can_manage_officers,
    managed_roles,
    may_appoint,
    may_change_role,
    may_promote_to_chair,
    nodes_managed_by,
    officer_for_manager,
    officers_managed_by,
    partner_nodes_of,
    require_officer,
    sign_in_officer,
)
from server.errors import DomainError
from server.i18n import gettext
from server.models import Officer, Role, Team, UnionNode
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, officers, partners
from server.validation import small_int
from server.web.forms import form_dict, query_text, read_form
from server.web.templating import render

PAGE_SIZE = 50
MAX_NODES = 1000  # the add form's list of unions (a province has some hundreds of projects)


def _page(request: Request) -> int:
    return max(1, min(small_int(request.query_params.get("page")) or 1, 10_000))


async def _manager(request: Request) -> Officer:
    officer = await require_officer(request)
    if not can_manage_officers(officer):
        raise HTTPException(403)
    return officer


async def _render(request: Request, officer: Officer, *, result: dict[str, Any] | None = None,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  status_code: int = 200) -> Response:
    params = request.query_params
    term = query_text(request, "q", 40)
    nodes_q = nodes_managed_by(officer)
    under = None
    if params.get("union"):
        under = await UnionNode.filter(nodes_q, code=query_text(request, "union", 40)).first()
    page = _page(request)
    rows, total = await officers.roster(officers_managed_by(officer), term=term, under=under,
                                        page=page, page_size=PAGE_SIZE)
    roles = managed_roles(officer)
    nodes = await UnionNode.filter(
        partner_nodes_of(officer) if Role.PARTNER in roles else nodes_q).order_by(
        "path").limit(MAX_NODES)
    teams = []
    if officer.role == Role.CHAIR:
        teams = await Team.filter(project_id=officer.union.id).order_by("name")
    missing: list[UnionNode] = []
    missing_total = 0
    if Role.CHAIR in roles and officer.role != Role.CHAIR:
        missing, missing_total = await officers.projects_without_chair(nodes_q)
    accounts = [{
        "o": row.officer,
        "members": privacy.count_for(officer, row.members),
        "open": privacy.count_for(officer, row.open_requests),
        "roles": [r for r in roles if r != row.officer.role
                  and officers.role_fits(r, row.officer.union)
                  and may_change_role(officer, row.officer, r)],
    } for row in rows]
    preset = {"union": query_text(request, "union", 40)} if officer.role != Role.CHAIR else {}
    return render(request, "officer/officers.html", {
        "accounts": accounts, "total": total, "page": page, "page_size": PAGE_SIZE,
        "params": params, "roles": roles, "nodes": nodes, "teams": teams,
        "missing": missing, "missing_total": missing_total, "result": result,
        "values": values or preset, "errors": errors or {},
        "partner_kinds": partners.KIND_LABELS, "fixed_union": (
            officer.union if officer.role == Role.CHAIR else None),
    }, status_code=status_code, headers=NO_STORE)


async def account_list(request: Request) -> Response:
    return await _render(request, await _manager(request))


async def account_add(request: Request) -> Response:
    officer = await _manager(request)
    form = form_dict(await read_form(request))
    values = {k: str(form.get(k) or "").strip()[:60]
              for k in ("name", "phone", "role", "union", "team", "organisation",
                        "partner_kind")}
    union_code = officer.union.code if officer.role == Role.CHAIR else values["union"]
    role = Role(values["role"]) if values["role"] in {r.value for r in Role} else None
    node = await UnionNode.filter(
        partner_nodes_of(officer) if role == Role.PARTNER else nodes_managed_by(officer),
        code=union_code).first()
    errors: dict[str, str] = {}
    if node is None:
        errors["union"] = gettext("请选择你管理范围内的工会组织")
    elif role is None or not may_appoint(officer, role, node):
        errors["role"] = gettext("请选择你可以任命的角色")
    if errors or node is None or role is None:
        return await _render(request, officer, values=values, errors=errors, status_code=422)
    # An upper union naming as chair someone who is already an officer of that project
    # (by phone) promotes them: their account, password and history stay theirs.
    existing = await officers.officer_at(values["phone"], node) if role == Role.CHAIR else None
    if existing is not None and may_promote_to_chair(officer, existing):
        await officers.change_role(existing, Role.CHAIR, officer, ip=client_ip(request))
        return await _render(request, officer, result={"kind": "promoted",
                                                       "officer": existing})
    try:
        new, outcome = await officers.appoint(
            officer, phone=values["phone"], name=values["name"], role=role,
            union_code=node.code, team_id=small_int(values["team"]),
            keyring=request.app.state.keyring, ip=client_ip(request),
            partner=values if role == Role.PARTNER else None)
    except DomainError as exc:
        return await _render(request, officer, values=values, errors=exc.as_errors(),
                             status_code=exc.status)
    return await _render(request, officer, result={
        "kind": "added", "officer": new, "code": officers.format_code(outcome.code),
        "moved": outcome.handed_over})


async def account_action(request: Request) -> Response:
    officer = await _manager(request)
    action = request.path_params["action"]
    if action not in {"role", "password", "deactivate", "reactivate"}:
        raise HTTPException(404)
    target = await officer_for_manager(officer, int(request.path_params["officer_id"]))
    form = form_dict(await read_form(request))
    ip = client_ip(request)
    result: dict[str, Any] = {"kind": action, "officer": target}
    try:
        if action == "role":
            value = str(form.get("role") or "")
            role = Role(value) if value in {r.value for r in Role} else None
            if role is None or not may_change_role(officer, target, role):
                raise DomainError(gettext("请选择你可以任命的角色"), field="role")
            await officers.change_role(target, role, officer, ip=ip)
        elif action == "password":
            outcome = await officers.reset_password(target, officer,
                                                    request.app.state.keyring, ip=ip)
            result["code"] = officers.format_code(outcome.code)
        elif action == "deactivate":
            outcome = await officers.deactivate(target, officer, ip=ip)
            result["moved"] = outcome.handed_over
            result["changed"] = outcome.changed
        else:
            outcome = await officers.reactivate(target, officer, ip=ip)
            result["moved"] = outcome.handed_over
            result["changed"] = outcome.changed
    except DomainError as exc:
        return await _render(request, officer, result={"kind": "error", "officer": target,
                                                       "message": exc.message},
                             status_code=exc.status)
    return await _render(request, officer, result=result)


# --- setting one's own password with a code ------------------------------------------------

async def password_form(request: Request) -> Response:
    phone = query_text(request, "phone", 11)
    return render(request, "officer/password.html", {"values": {"phone": phone},
                                                     "errors": {}}, headers=NO_STORE)


async def password_submit(request: Request) -> Response:
    form = form_dict(await read_form(request))
    entered = officers.NewPassword(
        phone=str(form.get("phone") or "").strip()[:20], code=str(form.get("code") or "")[:40],
        password=str(form.get("password") or "")[:officers.MAX_PASSWORD + 1],
        repeat=str(form.get("repeat") or "")[:officers.MAX_PASSWORD + 1])
    try:
        officer = await officers.set_password_with_code(entered, request.app.state.keyring,
                                                        client_ip(request))
    except DomainError as exc:
        return render(request, "officer/password.html", {
            "values": {"phone": entered.phone}, "errors": exc.as_errors()},
            status_code=exc.status, headers=NO_STORE)
    sign_in_officer(request, officer)
    await audit.record(officer, "login", officer, ip=client_ip(request))
    return RedirectResponse("/officer", status_code=303)


routes = [
    Route("/officer/officers", account_list, methods=["GET"]),
    Route("/officer/officers", account_add, methods=["POST"]),
    Route("/officer/officers/{officer_id:int}/{action:str}", account_action, methods=["POST"]),
    Route("/officer/password", password_form, methods=["GET"]),
    Route("/officer/password", password_submit, methods=["POST"]),
]
