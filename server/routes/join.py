"""Joining the union from the poster's QR code: /join/{token}."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import current_member, sign_in_member
from server.errors import DomainError
from server.models import Invite, Member, MemberStatus, Team
from server.routes.officer import client_ip
from server.services import enrolment
from server.services.invites import JoinTarget, join_target
from server.validation import OTHER_TRADE, TRADES
from server.web.forms import csrf_token, form_dict, read_form
from server.web.templating import render, render_shared


async def _target(request: Request) -> JoinTarget:
    target = await join_target(request.path_params["token"])
    if target is None:
        raise HTTPException(404)
    return target


def _form_context(invite: Invite, teams: list[Team], values: Mapping[str, object],
                  errors: dict[str, str]) -> dict[str, object]:
    return {
        "invite": invite, "project": invite.project, "teams": teams, "trades": TRADES,
        "other_trade": OTHER_TRADE, "values": values, "errors": errors,
        "action": f"/join/{invite.token}", "assisted": False,
    }


async def join_form(request: Request) -> Response:
    target = await _target(request)
    invite, teams = target.invite, target.teams
    member = await current_member(request)
    if (member is not None and member.project.id == invite.project.id
            and member.status in {MemberStatus.PENDING, MemberStatus.ACTIVE}):
        return RedirectResponse("/me", status_code=303)
    values: dict[str, object] = {"team": str(invite.team.id) if invite.team else ""}
    context = _form_context(invite, teams, values, {})
    if member is None:
        return render_shared(request, target.pages, "join/form.html", context,
                             fragment="join/_form.html")
    # The member's own phone at another site's poster (or back after leaving): the form
    # comes filled in with what they gave before, and says it moves them keeping their
    # number. Sending it with their own phone number is the move (enrolment.join).
    values.update(_own_answers(member))
    context["moving"] = member
    return render(request, "join/form.html", context, fragment="join/_form.html")


def _own_answers(member: Member) -> dict[str, object]:
    trade = {"trade": member.trade} if member.trade in TRADES else {
        "trade": OTHER_TRADE, "trade_other": member.trade}
    return {"name": member.name, "phone": member.phone, "employer": member.employer,
            "hometown": member.hometown, **trade}


async def join_submit(request: Request) -> Response:
    target = await _target(request)
    invite, teams = target.invite, target.teams
    form = await read_form(request)
    data, errors = enrolment.clean(form_dict(form), teams)
    if data is None:
        values = {k: v for k, v in form_dict(form).items() if isinstance(v, str)}
        return render(request, "join/form.html", _form_context(invite, teams, values, errors),
                      status_code=422, fragment="join/_form.html")
    session_member = await current_member(request)
    try:
        member = await enrolment.join(
            invite.project, data, request.app.state.keyring, ip=client_ip(request),
            session_member_id=session_member.id if session_member else None,
            session_token=csrf_token(request))
    except DomainError as exc:
        values = {k: v for k, v in form_dict(form).items() if isinstance(v, str)}
        return render(request, "join/form.html",
                      _form_context(invite, teams, values, exc.as_errors()),
                      status_code=exc.status, fragment="join/_form.html")
    # The same answer whether or not the phone was already a member (no oracle): a second
    # claim on a phone is left for a cadre, and its sender is signed in as nobody.
    if member is not None and (session_member is None or session_member.id != member.id):
        # A member moving on their own phone is signed in already: their session stays.
        sign_in_member(request, member)
    return RedirectResponse("/me", status_code=303)


routes = [
    Route("/join/{token}", join_form, methods=["GET"]),
    Route("/join/{token}", join_submit, methods=["POST"]),
]
