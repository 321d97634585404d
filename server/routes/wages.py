"""Wage cases (欠薪): members' own claims in a collective case, added by the union or by the
member joining, and the labour inspector's list of those who agreed to be named."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import require_member, require_officer, wage_case_for_member
from server.access import wage_case_for_officer as case_for_officer
from server.errors import DomainError
from server.i18n import gettext
from server.models import WageClaim
from server.routes.officer import NO_STORE, client_ip
from server.routes.officer_requests import render_panel
from server.services import audit, wages
from server.web.forms import form_dict, read_form
from server.web.templating import render


async def add_claim(request: Request) -> Response:
    """The chair or a cadre adds a member's claim: fields `member` (member number or the
    11-digit phone), `amount` (yuan), `consent` (to the inspector's list)."""
    officer = await require_officer(request)
    item = await case_for_officer(officer, int(request.path_params["request_id"]))
    data = form_dict(await read_form(request))
    given, errors = wages.clean_claim(data)
    member = await wages.find_member(item.project.id, str(data.get("member", "")))
    if member is None:
        errors["member"] = gettext("找不到本项目的这位会员：请填会员编号或 11 位手机号")
    if given is not None and member is not None and not errors:
        try:
            claim = await wages.add_claim(item, member, given, officer=officer)
        except DomainError as exc:
            errors = exc.as_errors()
        else:
            await audit.record(officer, "wage.claim", item, ip=client_ip(request),
                               claim=claim.id, member=member.id, amount=given.amount,
                               consent=given.consent)
    typed = {k: str(data.get(k, "")) for k in ("member", "amount", "consent")} if errors else {}
    return await render_panel(request, officer, item, "wage_claim",
                              "; ".join(errors.values()), typed)


async def inspector_export(request: Request) -> Response:
    """The case's members who agreed, for the labour inspector (xlsx): the only place ID
    numbers leave decrypted, so every download is on the audit log with its row count."""
    officer = await require_officer(request)
    item = await case_for_officer(officer, int(request.path_params["request_id"]))
    body, count = await wages.inspector_workbook(item, request.app.state.keyring)
    await audit.record(officer, "wage.inspector_export", item, ip=client_ip(request),
                       rows=count)
    return Response(body, media_type=wages.XLSX_TYPE, headers={
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="lianxin-wages-{item.id}.xlsx"'})


def _join_context(item: Any, claim: WageClaim | None, values: dict[str, str],
                  errors: dict[str, str], joined: bool) -> dict[str, Any]:
    return {"item": item, "claim": claim, "values": values, "errors": errors,
            "joined": joined, "max_claim": wages.MAX_CLAIM}


async def join(request: Request) -> Response:
    """A member of the project joins a collective wage case with their own amount (GET the
    form, POST it; offline through the outbox with `client_id`). The page shows the case's
    employer and period, never who filed it."""
    member = await require_member(request)
    item = await wage_case_for_member(member, int(request.path_params["request_id"]))
    claim = await WageClaim.get_or_none(request_id=item.id, member_id=member.id)
    if request.method == "GET":
        values = {"amount": str(claim.amount), "consent": "on" if claim.consent else ""} \
            if claim else {}
        return render(request, "requests/wage_join.html",
                      _join_context(item, claim, values, {}, request.query_params.get(
                          "joined") == "1"), fragment="requests/_wage_join.html")
    data = form_dict(await read_form(request))
    given, errors = wages.clean_claim(data)
    if given is not None:
        try:
            await wages.add_claim(item, member, given)
        except DomainError as exc:
            errors = exc.as_errors()
            status = exc.status
        else:
            return RedirectResponse(f"/wages/{item.id}/join?joined=1", status_code=303)
    else:
        status = 422
    values = {k: str(data.get(k, "")) for k in ("amount", "consent", "client_id")}
    return render(request, "requests/wage_join.html",
                  _join_context(item, claim, values, errors, False), status_code=status,
                  fragment="requests/_wage_join.html")


routes = [
    # Before officer_requests: its /officer/requests/{id}/{action} would take these paths.
    Route("/officer/requests/{request_id:int}/claims", add_claim, methods=["POST"]),
    Route("/officer/requests/{request_id:int}/inspector.xlsx", inspector_export),
    Route("/wages/{request_id:int}/join", join, methods=["GET", "POST"]),
]
