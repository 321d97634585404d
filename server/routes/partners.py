"""Partners (外部协办): the partner's own pages, the officer's referral form and the worker's
consent answer. Rules live in server.services.partners and server.access."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server import privacy
from server.access import (
    request_for_member,
    request_for_officer,
    require_member,
    require_officer,
)
from server.errors import DomainError
from server.models import Officer, Role, ServiceRequest
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, inbox, lifecycle, partners
from server.validation import Cleaner, small_int
from server.web.forms import form_dict, read_form
from server.web.templating import render


async def _partner(request: Request) -> Officer:
    return await require_officer(request, Role.PARTNER)


async def _request_of(partner: Officer, request: Request) -> ServiceRequest:
    # Only a partner gets here (`_partner`), so the scope is what was referred to it.
    return await request_for_officer(partner, int(request.path_params["request_id"]))


async def referred_list(request: Request) -> Response:
    partner = await _partner(request)
    rows = await partners.listing(partner)
    return render(request, "partner/list.html", {
        "rows": rows, "organisation": await partners.organisation_of(partner.id),
        "outcomes": partners.OUTCOME_LABELS,
    }, headers=NO_STORE)


async def _detail_context(partner: Officer, item: ServiceRequest, *, errors: dict[str, str]
                          | None = None, values: dict[str, str] | None = None,
                          ) -> dict[str, Any]:
    referral = await partners.referral_for_partner(partner, item.id)
    consented = await partners.shares_identity_with(partner, item.id)
    identity = privacy.partner_identity(partner, item.member, consented)
    filer = privacy.Identity(identity.name, identity.member_no, "", item.member.id) if (
        identity) else None
    view = privacy.request_view(partner, item)
    events = privacy.timeline(partner, await lifecycle.events_of(item), filer)
    return {
        "item": item, "view": view, "identity": identity, "referral": referral,
        "events": events, "anonymous": privacy.anonymous_label(),
        "outcomes": partners.OUTCOME_LABELS, "consents": partners.CONSENT_LABELS,
        "errors": errors or {}, "values": values or {},
        "organisation": await partners.organisation_of(partner.id),
    }


async def referred_detail(request: Request) -> Response:
    partner = await _partner(request)
    item = await _request_of(partner, request)
    consented = await partners.shares_identity_with(partner, item.id)
    await audit.record(partner, "request.view", item, ip=client_ip(request),
                       identity=consented)
    await inbox.mark_request_read(item.id, officer_id=partner.id)
    return render(request, "partner/request.html", await _detail_context(partner, item),
                  fragment="partner/_request.html", headers=NO_STORE)


async def partner_action(request: Request) -> Response:
    partner = await _partner(request)
    item = await _request_of(partner, request)
    action = request.path_params["action"]
    if action not in {"reply", "note", "outcome"}:
        raise HTTPException(404)
    data = form_dict(await read_form(request))
    values = {k: str(data.get(k) or "")[:lifecycle.MAX_NOTE]
              for k in ("note", "outcome", "amount_recovered")}
    try:
        if action == "outcome":
            new = partners.clean_outcome(data)
            await partners.record_outcome(partner, item, new)
            await audit.record(partner, "referral.outcome", item, ip=client_ip(request),
                               outcome=str(new.outcome), amount_recovered=new.amount)
        else:
            note, error = lifecycle.clean_note(data)
            if error:
                raise DomainError(error, field="note")
            await partners.partner_note(partner, item, note, public=action == "reply")
            await audit.record(partner, f"referral.{action}", item, ip=client_ip(request))
    except DomainError as exc:
        item = await _request_of(partner, request)
        errors = {f"{action}:{exc.field}": exc.message}
        return render(request, "partner/request.html", await _detail_context(
            partner, item, errors=errors, values=values), status_code=exc.status,
            fragment="partner/_request.html", headers=NO_STORE)
    return RedirectResponse(f"/partner/requests/{item.id}", status_code=303)


# --- the union officer's side -------------------------------------------------------------

async def refer(request: Request) -> Response:
    """Refer a request to a partner (plain form; the request page shows the result)."""
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    data = form_dict(await read_form(request))
    try:
        new = partners.clean_referral(data)
        referral, created = await partners.refer(officer, item, new)
    except DomainError as exc:
        return render(request, "officer/partner_refer_error.html", {
            "item": item, "message": exc.message}, status_code=exc.status, headers=NO_STORE)
    if created:
        await audit.record(officer, "request.partner_refer", item, ip=client_ip(request),
                           partner=referral.partner_id,  # type: ignore[attr-defined]
                           consent=str(referral.consent))
    return RedirectResponse(f"/officer/requests/{item.id}#partner-referrals", status_code=303)


# --- the worker's side --------------------------------------------------------------------

async def consent(request: Request) -> Response:
    """The worker's answer: may the partner know who they are? (fields `referral`,
    `answer` = yes | no, `client_id`)."""
    member = await require_member(request)
    item = await request_for_member(member, int(request.path_params["request_id"]))
    data = form_dict(await read_form(request))
    c = Cleaner(data)
    client_id = c.client_id()
    answer = c.choice("answer", {"yes": True, "no": False}, required=True, label="answer")
    referral_id = small_int(data.get("referral"))
    if c.errors or referral_id is None:
        raise HTTPException(422, detail="; ".join(c.errors.values()) or "referral")
    try:
        await partners.answer_consent(member, item, referral_id, answer == "yes", client_id)
    except DomainError as exc:
        raise HTTPException(exc.status, detail=exc.message) from exc
    return RedirectResponse(f"/requests/{item.id}", status_code=303)


routes = [
    Route("/partner", referred_list),
    Route("/partner/requests/{request_id:int}", referred_detail),
    Route("/partner/requests/{request_id:int}/{action:str}", partner_action, methods=["POST"]),
    # Before the officers' and the workers' `{action}` patterns, which would take these.
    Route("/officer/requests/{request_id:int}/partner", refer, methods=["POST"]),
    Route("/requests/{request_id:int}/consent", consent, methods=["POST"]),
]
