"""Officer side of requests: the queue, one request with its actions, figures and digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from server import privacy
from server.access import (
    reads_canned_for,
    request_for_officer,
    request_scope,
    require_officer,
)
from server.db import reads_from_replica
from server.errors import DomainError
from server.i18n import gettext
from server.labels import CHINA
from server.models import (
    Category,
    Level,
    Officer,
    RequestPhoto,
    Role,
    ServiceRequest,
    Status,
    UnionNode,
)
from server.models.requests import OPEN_STATUSES
from server.routes import officer_figures
from server.routes import shared as shared_routes
from server.routes.officer import NO_STORE, client_ip
from server.services import (
    audit,
    canned,
    contacts,
    coverage,
    deadlines,
    digest,
    figures,
    inbox,
    lifecycle,
    officer_actions,
    partners,
    upper,
    wages,
)
from server.services import queue as live
from server.services import voice as voices
from server.validation import small_int
from server.web.forms import form_dict, read_form
from server.web.forms import upload as form_upload
from server.web.middleware import MICROPHONE
from server.web.sessions import state_of
from server.web.templating import is_htmx, render, wants_json

PAGE_SIZE = 30
OFFICER_CACHE_HEADER = "X-Lianxin-Officer-Cache"
QUEUE_COLUMNS = ("id", "category", "urgency", "status", "level", "level_due_at", "created_at",
                 "viewed_at")
# Management gets the digest too: it is made for project leadership and names nobody.
FIGURE_ROLES = (Role.CHAIR, Role.UPPER, Role.MANAGER)


def queue_filter(request: Request, officer: Officer, now: datetime) -> Q:
    params = request.query_params
    q = request_scope(officer)
    status = params.get("status", "open")
    if status == "open":
        q &= Q(status__in=list(OPEN_STATUSES))
    elif status in {s.value for s in Status}:
        q &= Q(status=status)
    category = params.get("category", "")
    if category in {c.value for c in Category}:
        q &= Q(category=category)
    level = params.get("level", "")
    if level in {lv.value for lv in Level}:
        q &= Q(level=level)
    if params.get("overdue") == "1":
        q &= Q(status__in=list(OPEN_STATUSES), level_due_at__lt=now)
    return q


async def queue(request: Request) -> Response:
    """The queue, and the fragment its page polls: a poll carrying the version it shows
    (If-None-Match) gets 304 and no body while nothing changed."""
    officer = await require_officer(request)
    now = datetime.now(UTC)
    page = max(1, min(small_int(request.query_params.get("page")) or 1, 10_000))
    scope = queue_filter(request, officer, now)
    variant = f"{request.scope.get('language', '')}?{request.url.query}"
    etag = await live.version(officer, scope, now, variant)
    headers = {**NO_STORE, "ETag": etag}
    if is_htmx(request) and live.matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={**headers, "Vary": "HX-Request"})
    query = ServiceRequest.filter(scope)
    total = await query.count()
    # Rows as values, not three models each: a queue page is read far more than any other.
    rows = await live.ordered(query, now).offset((page - 1) * PAGE_SIZE).limit(
        PAGE_SIZE).values(*QUEUE_COLUMNS, *privacy.VIEW_COLUMNS)
    views = {r["id"]: privacy.view_of_row(officer, r) for r in rows}
    return render(request, "officer/requests.html", {
        "rows": rows, "views": views, "total": total, "page": page, "page_size": PAGE_SIZE,
        "params": request.query_params, "now": now, "marks": await live.marks(officer, rows),
        "etag": etag, "poll_seconds": request.app.state.settings.queue_poll_seconds,
        "anonymous": privacy.anonymous_label(), "categories": list(Category),
        "hears_voices": privacy.hears_voices(officer),
    }, fragment="officer/_request_table.html", headers=_offline_readable(request, headers))


async def _escalate_label(officer: Officer, item: ServiceRequest) -> str:
    """"上报" with where it goes: the chair by name, or the upper union by name."""
    level = lifecycle.escalation_level(officer, item)
    if level is None:
        return ""
    target = await inbox.escalation_target(item.project.id, level)
    if level == Level.CHAIR:
        if target.officers:
            return gettext("上报给主席 %(name)s") % {"name": "、".join(target.officers)}
        return gettext("上报给工会主席")
    if target.union:
        return gettext("上报给上级工会：%(union)s") % {"union": target.union}
    return gettext("上报给上级工会")


def _detail_headers(officer: Officer) -> dict[str, str]:
    """Never stored (other people's data); the microphone on for those who reply by voice."""
    return {**NO_STORE, **MICROPHONE} if privacy.hears_voices(officer) else NO_STORE


def _offline_readable(request: Request, headers: dict[str, str]) -> dict[str, str]:
    """The queue and a request page as the service worker may keep them for this officer
    to read with no signal (sw/sw.js, OFFICER_PAGES): named by the officer's session.
    No HTTP cache stores them (no-store stays); only the page's own service worker."""
    state = state_of(request)
    key = state.officer_cache_key() if state is not None else ""
    return {**headers, OFFICER_CACHE_HEADER: key} if key else headers
async def _wage_context(officer: Officer, item: ServiceRequest,
                        values: dict[str, str]) -> dict[str, Any]:
    """The wage case's part of the panel: its members' own claims only for officers who may
    see identities (never management or the upper union: one person's sum), and what was
    typed into a refused milestone or claim form."""
    if item.category != Category.WAGES:
        return {"wage": None}
    claims = await wages.claims_of(item) if officer.sees_identities else []
    return {"wage": {"claims": claims, "sees_claims": officer.sees_identities,
                     "partner_recovered": await partners.recovered_for(item),
                     "open": wages.open_case(item), "values": values,
                     "milestones": [a for a in wages.MILESTONES
                                    if lifecycle.officer_may(officer, a, item)]}}


async def _detail_context(officer: Officer, item: ServiceRequest, error: str = "",
                          error_action: str = "", note: str = "",
                          worker_phone: str = "",
                          values: dict[str, str] | None = None) -> dict[str, Any]:
    events = await lifecycle.events_of(item)
    view = privacy.request_view(officer, item)
    audible = privacy.voices_for(officer, await voices.refs_of(item.id))
    photo_ids: list[Any] = []
    if privacy.sees_photos(officer):
        photo_ids = list(await RequestPhoto.filter(request_id=item.id).order_by(
            "id").values_list("id", flat=True))
    cadres: list[Officer] = []
    actions = lifecycle.officer_actions(officer, item)
    if "reassign" in actions:
        cadres = await Officer.filter(role=Role.CADRE, union_id=item.project.id,
                                      active=True).order_by("name")
    return {
        "item": item, "view": view, "person": view.filer,
        "events": privacy.timeline(officer, events, view.filer, audible),
        "anonymous": privacy.anonymous_label(), "actions": actions,
        "may_call": privacy.may_call_filer(officer, item.anonymity, item.member.id),
        "hears_voices": privacy.hears_voices(officer),
        "worker_phone": worker_phone,
        "error": error, "error_action": error_action, "note": note,
        "escalate_label": await _escalate_label(officer, item) if "escalate" in actions else "",
        "photo_ids": photo_ids, "cadres": cadres, "now": datetime.now(UTC),
        **await shared_routes.links_context(officer, item),
        "canned": await canned.replies_for(item.project.id)
        if "reply" in actions and reads_canned_for(officer, item) else [],
        "write_actions": [a for a in WRITE_ACTIONS if a in actions],
        "primary": primary_action(item, actions), "conflict": None,
        **await _wage_context(officer, item, values or {}),
        "partner_panel": await partners.panel(officer, item),
    }


async def detail(request: Request) -> Response:
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    await audit.record(officer, "request.view", item, ip=client_ip(request))
    await inbox.mark_request_read(item.id, officer_id=officer.id)
    # "干部已查看" for the worker, the first time someone who may act on it opens it.
    await lifecycle.record_viewed(officer, item)
    return render(request, "officer/request.html", await _detail_context(officer, item),
                  fragment="officer/_request_panel.html",
                  headers=_offline_readable(request, _detail_headers(officer)))


async def worker_phone(request: Request) -> Response:
    """The filer's phone number, shown when the officer asks for it (a button, not on every
    view): each number an officer takes is on the audit log as such, apart from opening the
    request, and the number is not on a screen shown to someone on site. Only officers who
    may know who filed get it (`privacy.may_call_filer`); to anyone else, 404."""
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    await read_form(request)
    if not privacy.may_call_filer(officer, item.anonymity, item.member.id):
        raise HTTPException(404)
    await audit.record(officer, "request.phone", item, ip=client_ip(request),
                       member=item.member.id)
    return render(request, "officer/request.html",
                  await _detail_context(officer, item, worker_phone=item.member.phone),
                  fragment="officer/_worker_phone.html", headers=_detail_headers(officer))


# The actions the panel's one text box offers, in the order shown; the request's state
# picks which comes first and is chosen (受理 is its own button above them).
WRITE_ACTIONS = ("reply", "management_reply", "resolve", "note", "escalate", "refer")


def primary_action(item: ServiceRequest, actions: list[str]) -> str:
    """The action the panel puts first for the request's state: 受理 while it waits, then
    回复, and 办结 once the worker has had an answer."""
    if "acknowledge" in actions:
        return "acknowledge"
    order = ("resolve", "reply") if item.status == Status.IN_PROGRESS else ("reply", "resolve")
    for action in (*order, *WRITE_ACTIONS):
        if action in actions:
            return action
    return ""


async def act(request: Request) -> Response:
    officer = await require_officer(request)
    request_id = int(request.path_params["request_id"])
    form = await read_form(request)
    data = form_dict(form)
    action = request.path_params.get("action") or str(data.get("action", ""))
    if action not in lifecycle.TRANSITIONS:
        raise HTTPException(404)
    try:
        item = await request_for_officer(officer, request_id)
    except HTTPException as exc:
        # A queued action on a request given to someone else meanwhile: out of this
        # officer's sight now, so said as such, with nothing of its present state.
        if exc.status_code != 404 or not await officer_actions.taken_away(officer, request_id):
            raise
        if wants_json(request):
            return JSONResponse(officer_actions.taken_away_json(request_id, action, data),
                                status_code=409, headers=NO_STORE)
        raise HTTPException(409, detail=officer_actions.taken_away_message()) from exc
    voice = voices.NO_VOICE
    if action in lifecycle.VOICE_ACTIONS and privacy.hears_voices(officer):
        voice = await voices.clean_upload(await form_upload(form, "voice", voices.MAX_BYTES))
    note, error = lifecycle.clean_note(data)
    queued = officer_actions.clean_queued(officer, data)
    error = error or queued.error or voice.error
    milestone = None
    if action in wages.MILESTONES:
        milestone, wage_error = wages.clean_milestone(action, data)
        error = error or wage_error
    conflict: lifecycle.Conflict | None = None
    if not error:
        try:
            applied = await lifecycle.apply_officer_action_once(
                officer, item, action, lifecycle.ActionInput(
                    note=note, duplicate_of=small_int(data.get("duplicate_of")),
                    assignee_id=small_int(data.get("assignee")), voice=voice.voice,
                    client_id=queued.client_id, seen=queued.seen,
                    master_scope=request_scope(officer), wage=milestone))
        except lifecycle.Conflict as exc:
            conflict, error = exc, exc.message
        except DomainError as exc:
            error = exc.message
        else:
            if applied.created:
                extra: dict[str, object] = {"voice": True} if voice.voice else {}
                if milestone is not None:
                    extra.update(amount=milestone.amount,
                                 promised_on=str(milestone.promised_on or ""))
                if queued.client_id:
                    extra["queued"] = True
                await audit.record(officer, f"request.{action}", item, ip=client_ip(request),
                                   **extra)
    if conflict is not None and wants_json(request):
        return JSONResponse(await officer_actions.conflict_json(officer, action, note, conflict),
                            status_code=409, headers=NO_STORE)
    typed = {k: str(data.get(k, "")) for k in ("amount", "promised_on")} if error else {}
    return await render_panel(request, officer, item, action, error, typed,
                              note if error else "", conflict)


async def render_panel(request: Request, officer: Officer, item: ServiceRequest, action: str,
                       error: str, typed: dict[str, str], note: str = "",
                       conflict: lifecycle.Conflict | None = None) -> Response:
    """After an action: back to the request page (or, for htmx, its panel, read afresh),
    or the panel again with the message by the form that was sent and what was typed (and,
    for a queued action the request moved past, both states)."""
    item = await request_for_officer(officer, item.id) if not error or conflict else item
    if not error and request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/officer/requests/{item.id}", status_code=303)
    context = await _detail_context(officer, item, error, action if error else "",
                                    note, values=typed)
    if conflict is not None:
        context["conflict"] = officer_actions.conflict_view(action, note, conflict)
    return render(request, "officer/request.html", context,
                  status_code=(409 if conflict else 422) if error else 200,
                  fragment="officer/_request_panel.html", headers=_detail_headers(officer))


EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2999, 12, 31)


def _period(request: Request) -> tuple[datetime, datetime, str, str]:
    """[start, end) from ?start=YYYY-MM-DD&end=YYYY-MM-DD in China time; default 30 days."""
    today = datetime.now(CHINA).date()
    def parse(name: str, default: Any) -> Any:
        raw = request.query_params.get(name, "")
        try:
            value = datetime.strptime(raw, "%Y-%m-%d").date() if raw else default
        except ValueError:
            return default
        # 9999-12-31 parses, but its day after does not exist: such dates mean nothing here.
        return value if EARLIEST_DATE <= value <= LATEST_DATE else default
    first = parse("start", today - timedelta(days=29))
    last = parse("end", today)
    if last < first:
        first, last = last, first
    start = datetime(first.year, first.month, first.day, tzinfo=CHINA)
    end = datetime(last.year, last.month, last.day, tzinfo=CHINA) + timedelta(days=1)
    return start, end, first.isoformat(), last.isoformat()


async def figures_page(request: Request) -> Response:
    officer = await require_officer(request, *FIGURE_ROLES)
    if upper.sees_table(officer):
        return await officer_figures.upper_page(request, officer)
    return await request_figures(request, officer)


async def request_figures_page(request: Request) -> Response:
    """The requests of a period by status and category, for every reader of figures (for
    an upper union, over its whole subtree; it reads the requests themselves)."""
    return await request_figures(request, await require_officer(request, *FIGURE_ROLES))


async def request_figures(request: Request, officer: Officer) -> Response:
    start, end, first, last = _period(request)
    site = None
    referral_figures = None
    with reads_from_replica():
        result = await figures.for_viewer(officer, start, end, datetime.now(UTC))
        if officer.role == Role.CHAIR and officer.union.is_project:
            site = await coverage.of_project(officer.union)
            referral_figures = await partners.figures_for(officer, officer.union.id)
    return render(request, "officer/figures.html", {
        "f": result, "start": first, "end": last, "coverage": site,
        "referral_figures": referral_figures, "outcome_labels": partners.OUTCOME_LABELS,
        "action": request.url.path, "categories": list(Category), "statuses": list(Status),
    }, headers=NO_STORE)


async def digest_page(request: Request) -> Response:
    officer = await require_officer(request, *FIGURE_ROLES)
    start, end, first, last = _period(request)
    with reads_from_replica():
        result = await digest.build(officer, start, end, figures.DIGEST_PAGE_LIMIT)
    await audit.record(officer, "digest.view", None, ip=client_ip(request), start=first,
                       end=last)
    return render(request, "officer/digest.html", {
        "d": result, "rows": result.rows, "total": result.listed, "f": result.figures,
        "start": first, "end": last, "period": digest.period_label(start, end),
        "union": officer.union,
        "limit": figures.DIGEST_PAGE_LIMIT,
    }, headers=NO_STORE)


async def digest_xlsx(request: Request) -> Response:
    officer = await require_officer(request, *FIGURE_ROLES)
    start, end, first, last = _period(request)
    with reads_from_replica():
        body = await digest.digest_workbook(officer, start, end)
    await audit.record(officer, "digest.export", None, ip=client_ip(request), start=first,
                       end=last)
    return Response(body, media_type=digest.XLSX_TYPE, headers={
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="lianxin-digest-{first}-{last}.xlsx"'})


async def deadline_settings(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR)
    if not officer.union.is_project:
        raise HTTPException(404)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            await deadlines.save_targets(
                officer.union, deadlines.clean_targets(form_dict(await read_form(request))))
        except DomainError as exc:
            errors = exc.as_errors()
        else:
            await audit.record(officer, "deadlines.update", officer.union,
                               ip=client_ip(request))
            return RedirectResponse("/officer/deadlines?saved=1", status_code=303)
    targets = await deadlines.targets_for(officer.union)
    return render(request, "officer/deadlines.html", {
        "targets": targets, "errors": errors,
        "pre_festival_days": deadlines.PRE_FESTIVAL_WAGE_DAYS,
        "urgent_min_hours": int(deadlines.URGENT_MIN_ACK.total_seconds() // 3600),
        "saved": request.query_params.get("saved") == "1",
    }, status_code=422 if errors else 200, headers=NO_STORE)


async def office_settings(request: Request) -> Response:
    """Where the union office is and its phone: what an applicant without a liaison yet, or
    one turned down, is shown. Kept by the project's chair."""
    officer = await require_officer(request, Role.CHAIR)
    if not officer.union.is_project:
        raise HTTPException(404)
    errors: dict[str, str] = {}
    # Read fresh: the signed-in officer's union is a snapshot shared across requests.
    project = await UnionNode.get(id=officer.union.id)
    values = {"office_address": project.office_address, "office_phone": project.office_phone}
    if request.method == "POST":
        data = form_dict(await read_form(request))
        values = {k: str(data.get(k, "")) for k in values}
        try:
            office = contacts.clean_office(data)
            await contacts.save_office(project, office)
        except DomainError as exc:
            errors = exc.as_errors()
        else:
            await audit.record(officer, "project.office", project, ip=client_ip(request),
                               address=office.address, phone=office.phone)
            return RedirectResponse("/officer/office?saved=1", status_code=303)
    return render(request, "officer/office.html", {
        "values": values, "errors": errors, "saved": request.query_params.get("saved") == "1",
    }, status_code=422 if errors else 200, headers=NO_STORE)


async def badges(request: Request) -> Response:
    officer = await require_officer(request)
    counts = await live.counts(officer, request_scope(officer), datetime.now(UTC))
    return render(request, "partials/_officer_badges.html", {"counts": counts},
                  headers=NO_STORE)


routes = [
    Route("/officer/requests", queue),
    Route("/officer/requests/{request_id:int}", detail),
    # Before the actions' pattern, which would take "phone" for an unknown action.
    Route("/officer/requests/{request_id:int}/phone", worker_phone, methods=["POST"]),
    # The panel's one form, the action chosen in it (and the outbox's officer items).
    Route("/officer/requests/{request_id:int}/act", act, methods=["POST"]),
    Route("/officer/requests/{request_id:int}/{action:str}", act, methods=["POST"]),
    Route("/officer/figures", figures_page),
    Route("/officer/figures/requests", request_figures_page),
    Route("/officer/digest", digest_page),
    Route("/officer/digest.xlsx", digest_xlsx),
    Route("/officer/deadlines", deadline_settings, methods=["GET", "POST"]),
    Route("/officer/office", office_settings, methods=["GET", "POST"]),
    Route("/officer/badges", badges),
]
