"""The worker's own pages: membership status, member card, moving to a new phone, leaving."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import require_member, sign_in_member
from server.errors import DomainError
from server.models import MemberStatus
from server.services import cards, contacts, moves, rebind, rota, shared, sms
from server.web.forms import form_dict, read_form
from server.web.templating import render


async def status(request: Request) -> Response:
    member = await require_member(request)
    duty = await rota.today(member.project_id)  # type: ignore[attr-defined]
    return render(request, "me/status.html", {
        "me": member, "duty": duty, "duty_prompt": rota.invites_suggestions(duty),
        "sms_offered": sms.enabled(request.app.state.settings),
        "calls": await contacts.for_member(member), "office": contacts.office_of(member.project),
        # The project's open shared problems, on the page a worker opens first.
        "shared": await shared.open_for(member)})


async def leave_form(request: Request) -> Response:
    """离场, step one: what leaving means, and a button to confirm it."""
    member = await require_member(request)
    if member.status not in moves.LIVE:
        return RedirectResponse("/me", status_code=303)
    return render(request, "me/leave.html", {"me": member})


async def leave_submit(request: Request) -> Response:
    member = await require_member(request)
    form = await read_form(request)
    if form.get("confirm") != "yes":
        return RedirectResponse("/me/leave", status_code=303)
    try:
        await moves.leave(member)
    except DomainError:
        pass  # already left (the form sent twice): /me says so
    return RedirectResponse("/me", status_code=303)


async def sms_choice(request: Request) -> Response:
    member = await require_member(request)
    form = await read_form(request)
    await sms.set_opt_in(member, form.get("sms") == "on")
    return RedirectResponse("/me#sms", status_code=303)


async def card(request: Request) -> Response:
    member = await require_member(request)
    if member.status != MemberStatus.ACTIVE:
        return RedirectResponse("/me", status_code=303)
    settings = request.app.state.settings
    now = datetime.now(UTC)
    expires_at = cards.card_expiry(settings.member_card_days, now)
    token = cards.card_token(request.app.state.keyring, member, expires_at)
    qr = cards.qr_svg(cards.card_check_url(settings.base_url, token))
    return render(request, "me/card.html", {"me": member, "qr_svg": qr, "shown_at": now,
                                            "expires_at": expires_at,
                                            "calls": await contacts.for_member(member)})


async def rebind_form(request: Request) -> Response:
    return render(request, "me/rebind.html", {"values": {}, "errors": {}})


async def rebind_submit(request: Request) -> Response:
    form = form_dict(await read_form(request))
    ip = request.client.host if request.client else ""
    member, errors = await rebind.redeem(form, request.app.state.keyring, ip)
    if member is None:
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "code"}
        return render(request, "me/rebind.html", {"values": values, "errors": errors},
                      status_code=429 if "limit" in errors else 422)
    sign_in_member(request, member)
    return RedirectResponse("/me", status_code=303)


routes = [
    Route("/me", status),
    Route("/me/card", card),
    Route("/me/sms", sms_choice, methods=["POST"]),
    Route("/me/leave", leave_form, methods=["GET"]),
    Route("/me/leave", leave_submit, methods=["POST"]),
    Route("/me/rebind", rebind_form, methods=["GET"]),
    Route("/me/rebind", rebind_submit, methods=["POST"]),
]
