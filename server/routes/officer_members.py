"""Officer pages about members: pending enrolments, the member list, one record, card checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q, Subquery

from server.access import (
    can_reassign,
    can_review_members,
    member_for_officer,
    member_scope,
    request_scope,
    require_officer,
)
from server.db import reads_from_replica
from server.errors import DomainError
from server.i18n import gettext
from server.models import (
    Category,
    Member,
    MemberClaim,
    MemberStatus,
    Officer,
    Role,
    ServiceRequest,
    Team,
)
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, cards, care, membership, moves, rebind
from server.services import requests as filing
from server.services.photos import MAX_PHOTOS
from server.validation import PHONE_RE, mask_phone, small_int
from server.web.forms import form_dict, query_text, read_form, request_attachments
from server.web.middleware import MICROPHONE
from server.web.templating import is_htmx, render

PAGE_SIZE = 50
MEMBER_COLUMNS = ("id", "name", "member_no", "phone", "id_number_masked", "team__name",
                  "liaison__name")


def _page(request: Request) -> int:
    return max(1, min(small_int(request.query_params.get("page")) or 1, 10_000))


async def pending(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    page = _page(request)
    query = Member.filter(member_scope(officer), status=MemberStatus.PENDING)
    total = await query.count()
    rows = await query.order_by("created_at").offset((page - 1) * PAGE_SIZE).limit(
        PAGE_SIZE).select_related("project", "team")
    claims = await MemberClaim.filter(
        member_id__in=Subquery(Member.filter(member_scope(officer)).values("id")),
        resolved_at__isnull=True).order_by("created_at").limit(PAGE_SIZE).select_related(
        "member", "project")
    return render(request, "officer/pending.html",
                  {"rows": rows, "total": total, "page": page, "page_size": PAGE_SIZE,
                   "mask_phone": mask_phone, "claims": claims},
                  fragment="officer/_pending_list.html", headers=NO_STORE)


async def resolve_claim(request: Request) -> Response:
    """A cadre has looked into a second join form for a member's phone (called the number,
    issued a re-bind code or not): it leaves the pending list."""
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    claim = await MemberClaim.get_or_none(id=int(request.path_params["claim_id"]))
    if claim is None:
        raise HTTPException(404)
    member = await member_for_officer(officer, claim.member_id)  # type: ignore[attr-defined]
    await read_form(request)
    resolved = await MemberClaim.filter(id=claim.id, resolved_at__isnull=True).update(
        resolved_at=datetime.now(UTC), resolved_by_id=officer.id)
    if resolved:
        await audit.record(officer, "member.claim_resolved", member, ip=client_ip(request),
                           claim_id=claim.id)
    return RedirectResponse("/officer/pending", status_code=303)


async def review(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    decision = request.path_params["decision"]
    if decision not in {"approve", "reject"}:
        raise HTTPException(404)
    if not can_review_members(officer):
        raise HTTPException(403)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    form = form_dict(await read_form(request))
    try:
        if decision == "approve":
            await membership.approve(member, officer)
        else:
            reason = str(form.get("reason") or "")[:200].strip()
            await membership.reject(member, officer, reason)
    except DomainError as exc:
        message = exc.message
    else:
        message = ""
        await audit.record(officer, f"member.{decision}", member, ip=client_ip(request))
    await member.refresh_from_db()
    await member.fetch_related("liaison")
    if is_htmx(request):
        waiting = await Member.filter(member_scope(officer),
                                      status=MemberStatus.PENDING).count()
        return render(request, "officer/_pending_row.html",
                      {"row": member, "message": message, "mask_phone": mask_phone,
                       "pending_total": waiting}, headers=NO_STORE)
    return RedirectResponse("/officer/pending", status_code=303)


def _member_filters(request: Request, officer: Officer) -> Q:
    params = request.query_params
    q = member_scope(officer)
    status = params.get("status", "active")
    if status in {s.value for s in MemberStatus}:
        q &= Q(status=status)
    term = query_text(request, "q", 40)
    if term:
        text = Q(name__icontains=term)
        if len(term) <= 20:
            text |= Q(member_no=term.upper())
        # A whole number only: matching its end (or any part) would let a list that shows
        # phones masked be searched a digit at a time until it gave them away.
        if PHONE_RE.fullmatch(term):
            text |= Q(phone=term)
        q &= text
    team = small_int(params.get("team"))
    if team is not None:
        q &= Q(team_id=team)
    liaison = params.get("liaison", "")
    if (liaison_id := small_int(liaison)) is not None:
        q &= Q(liaison_id=liaison_id)
    elif liaison == "none":
        q &= Q(liaison_id__isnull=True)
    return q


async def member_list(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    page = _page(request)
    query = Member.filter(_member_filters(request, officer))
    term = query_text(request, "q", 40)
    if term:
        # Who looked for whom is on the record like any other look at members' data.
        await audit.record(officer, "member.search", ip=client_ip(request), q=term)
    with reads_from_replica():
        total = await query.count()
        # Values, not four models per row: the list is searched and paged all day.
        rows = await query.order_by("-id").offset((page - 1) * PAGE_SIZE).limit(
            PAGE_SIZE).values(*MEMBER_COLUMNS)
    cadres = Officer.filter(role=Role.CADRE, active=True)
    teams = Team.all()
    if officer.role != Role.ADMIN:
        cadres = cadres.filter(union__path__startswith=officer.union.path)
        teams = teams.filter(project__path__startswith=officer.union.path)
    cadre_rows = await cadres.order_by("name").limit(500).values("id", "name")
    team_rows = await teams.order_by("name").limit(500).values("id", "name")
    return render(request, "officer/members.html", {
        "rows": rows, "total": total, "page": page, "page_size": PAGE_SIZE,
        "cadres": cadre_rows, "teams": team_rows, "params": request.query_params,
        "mask_phone": mask_phone,
        "can_reassign": can_reassign(officer), "message": "",
    }, fragment="officer/_member_table.html", headers=NO_STORE)


async def member_detail(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    id_number = (request.app.state.keyring.decrypt(member.id_number_enc)
                 if member.id_number_enc else None)
    await audit.record(officer, "member.view", member, ip=client_ip(request))
    return render(request, "officer/member.html", {
        "m": member, "id_number": id_number, "code": None, **await _care_context(officer, member),
        "filed": small_int(request.query_params.get("filed")),
    }, headers=NO_STORE)


async def _care_context(officer: Officer, member: Member) -> dict[str, object]:
    """The member page's duty-of-care part: recent visits and calls, the stretches the member
    ended (reasons only for the officer's own projects), whether they may be marked left."""
    moved = await moves.history(member)
    return {
        "contacts": await care.recent_contacts(member), "moves": moved,
        "own_moves": {v.id for v in moved if officer.role == Role.ADMIN
                      or v.from_project.path.startswith(officer.union.path)},
        "may_leave": member.status in moves.LIVE and moves.may_mark_left(officer, member),
        "care_limits": {"note": care.MAX_NOTE, "reason": moves.MAX_REASON},
    }


async def reassign(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR)
    form = await read_form(request)
    ids = [i for i in (small_int(v) for v in form.getlist("member_ids")) if i is not None]
    allowed = await Member.filter(member_scope(officer), id__in=ids[:500]).values_list(
        "id", flat=True)
    cadre, _ = await membership.reassign_by(officer, [int(i) for i in allowed],  # type: ignore[call-overload]
                                            small_int(form.get("cadre_id")) or 0,
                                            ip=client_ip(request))
    return RedirectResponse(f"/officer/members?liaison={cadre.id}", status_code=303)


async def issue_rebind(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    await read_form(request)
    if member.status not in rebind.REBIND_STATUSES:
        raise HTTPException(400, detail=gettext("只有正式会员和已离场的会员可以换机"))
    code = await rebind.issue(member, officer, request.app.state.keyring)
    await audit.record(officer, "member.rebind_code", member, ip=client_ip(request))
    context = {"m": member, "code": code, "id_number": None,
               **await _care_context(officer, member)}
    return render(request, "officer/member.html", context,
                  fragment="officer/_rebind_code.html", headers=NO_STORE)


async def card_check(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    token = request.query_params.get("t", "")[:500]
    result = await cards.check_card(request.app.state.keyring, token) if token else None
    if result is not None and result.member is not None:
        # Only show a card's owner to officers whose scope holds that member.
        in_scope = await Member.filter(member_scope(officer), id=result.member.id).exists()
        if not in_scope:
            result = cards.CardCheck(False, None, "out_of_scope")
        await audit.record(officer, "member.card_check", result.member,
                           ip=client_ip(request), valid=result.valid)
    return render(request, "officer/card_check.html", {"result": result, "token": token},
                  headers=NO_STORE)


def _on_behalf_context(member: Member, values: Mapping[str, object],
                       errors: dict[str, str]) -> dict[str, object]:
    return {"on_behalf": member, "values": values, "errors": errors,
            "categories": list(Category), "max_photos": MAX_PHOTOS,
            "active": member.status == MemberStatus.ACTIVE, "left": False}


async def on_behalf_form(request: Request) -> Response:
    """代工友提交诉求: the worker's request form, filled in by a cadre or chair who may see
    the member, for a worker they heard face to face or by phone."""
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    return render(request, "officer/on_behalf.html", _on_behalf_context(member, {}, {}),
                  fragment="requests/_form.html", headers={**NO_STORE, **MICROPHONE})


async def on_behalf_submit(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    member = await member_for_officer(officer, int(request.path_params["member_id"]))
    form = await read_form(request)
    data = form_dict(form)
    cleaned, voice = await request_attachments(form, member.status == MemberStatus.ACTIVE)
    new, errors, photos = filing.clean_on_behalf(data, cleaned, voice)
    status = 422
    if new is not None:
        try:
            filed = await filing.file_request(member, new, photos, on_behalf_by=officer)
        except DomainError as exc:
            errors, status = exc.as_errors(), exc.status
        else:
            item = filed.request
            if filed.created:
                await audit.record(officer, "request.on_behalf", item, ip=client_ip(request),
                                   member=member.id, heard_by=str(new.heard_by),
                                   consent=True, anonymity=str(new.anonymity))
            # The cadre who filed it opens it when it is theirs to handle (they are the
            # worker's liaison, or a chair); otherwise back to the member, with its number.
            if await ServiceRequest.filter(request_scope(officer), id=item.id).exists():
                return RedirectResponse(f"/officer/requests/{item.id}", status_code=303)
            return RedirectResponse(f"/officer/members/{member.id}?filed={item.id}",
                                    status_code=303)
    values = {k: v for k, v in data.items() if isinstance(v, str)}
    return render(request, "officer/on_behalf.html",
                  _on_behalf_context(member, values, errors), status_code=status,
                  fragment="requests/_form.html", headers={**NO_STORE, **MICROPHONE})


routes = [
    Route("/officer/pending", pending),
    Route("/officer/members", member_list),
    Route("/officer/members/reassign", reassign, methods=["POST"]),
    Route("/officer/members/{member_id:int}", member_detail),
    Route("/officer/members/{member_id:int}/rebind", issue_rebind, methods=["POST"]),
    Route("/officer/members/{member_id:int}/requests/new", on_behalf_form, methods=["GET"]),
    Route("/officer/members/{member_id:int}/requests/new", on_behalf_submit,
          methods=["POST"]),
    Route("/officer/members/{member_id:int}/{decision:str}", review, methods=["POST"]),
    Route("/officer/claims/{claim_id:int}/resolve", resolve_claim, methods=["POST"]),
    Route("/officer/card", card_check),
]
