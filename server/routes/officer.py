"""Officer sign-in, sign-out and the start page."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import (
    current_officer,
    member_scope,
    request_scope,
    require_officer,
    sign_in_officer,
    sign_out_officer,
)
from server.errors import TooManyAttempts
from server.i18n import gettext
from server.models import Member, MemberStatus, Role
from server.routes.public import safe_next
from server.services import audit, coverage, membership, queue
from server.services.officers import authenticate
from server.web.forms import form_dict, read_form
from server.web.templating import render

NO_STORE = {"Cache-Control": "no-store"}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


async def login_form(request: Request) -> Response:
    if await current_officer(request):
        return RedirectResponse("/officer", status_code=303)
    return render(request, "officer/login.html",
                  {"values": {}, "error": "", "next": safe_next(
                      request.query_params.get("next"), "/officer")}, headers=NO_STORE)


async def login_submit(request: Request) -> Response:
    form = form_dict(await read_form(request))
    phone = str(form.get("phone", ""))[:20].strip()
    password = str(form.get("password", ""))[:200]
    next_url = safe_next(str(form.get("next", "")), "/officer")
    status_code = 401
    try:
        officer = await authenticate(phone, password, client_ip(request))
        error = gettext("手机号或密码不对")
    except TooManyAttempts as exc:
        officer, status_code, error = None, exc.status, exc.message
    if officer is None:
        return render(request, "officer/login.html",
                      {"values": {"phone": phone}, "error": error, "next": next_url},
                      status_code=status_code, headers=NO_STORE)
    # A new session and CSRF token: nothing planted or seen before the login works after it.
    sign_in_officer(request, officer)
    await audit.record(officer, "login", officer, ip=client_ip(request))
    return RedirectResponse(next_url, status_code=303)


async def logout(request: Request) -> Response:
    officer = await current_officer(request)
    await read_form(request)
    if officer:
        await audit.record(officer, "logout", officer, ip=client_ip(request))
    sign_out_officer(request)
    return RedirectResponse("/officer/login", status_code=303)


async def dashboard(request: Request) -> Response:
    signed_in = await current_officer(request)
    if signed_in is not None and signed_in.role == Role.PARTNER:
        # A partner's start page is its list of referred requests (after sign-in too).
        return RedirectResponse("/partner", status_code=303)
    officer = await require_officer(request)
    context: dict[str, object] = {"loads": [], "pending_count": 0, "member_count": 0,
                                  "team_coverage": None}
    if officer.sees_identities:
        scope = member_scope(officer)
        context["pending_count"] = await Member.filter(scope, status=MemberStatus.PENDING).count()
        context["member_count"] = await Member.filter(scope, status=MemberStatus.ACTIVE).count()
    # The request counts, each with what it counts (the same as the bar's badges).
    context["queue_counts"] = await queue.counts(officer, request_scope(officer),
                                                 datetime.now(UTC))
    if officer.union.is_project and privacy.sees_liaisons(officer):
        context["loads"] = await membership.cadre_loads(officer.union)
    if officer.role == Role.CADRE and officer.union.is_project:
        context["team_coverage"] = await coverage.cadre_team(officer)
    return render(request, "officer/dashboard.html", context, headers=NO_STORE)


routes = [
    Route("/officer/login", login_form, methods=["GET"]),
    Route("/officer/login", login_submit, methods=["POST"]),
    Route("/officer/logout", logout, methods=["POST"]),
    Route("/officer", dashboard),
]
