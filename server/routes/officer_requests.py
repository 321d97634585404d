"""Officer side of requests: the queue, one request with its actions, figures and digest."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from tortoise.expressions import Q

from server import privacy
from server.access import request_for_officer, request_scope, require_officer
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
from server.routes.officer import NO_STORE, client_ip
from server.services import (
    audit,
    contacts,
    coverage,
    deadlines,
    digest,
    figures,
    inbox,
    lifecycle,
    partners,
    upper,
)
from server.services import voice as voices
from server.validation import small_int
from server.web.forms import form_dict, read_form
from server.web.forms import upload as form_upload
from server.web.middleware import MICROPHONE
from server.web.templating import render

PAGE_SIZE = 30
QUEUE_COLUMNS = ("id", "category", "urgency", "status", "level", "level_due_at", "created_at")
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
    officer = await require_officer(request)
    now = datetime.now(UTC)
    page = max(1, min(small_int(request.query_params.get("page")) or 1, 10_000))
    query = ServiceRequest.filter(queue_filter(request, officer, now))
    total = await query.count()
    # Rows as values, not three models each: a queue page is read far more than any other.
    rows = await query.order_by("level_due_at", "id").offset((page - 1) * PAGE_SIZE).limit(
        PAGE_SIZE).values(*QUEUE_COLUMNS, *privacy.VIEW_COLUMNS)
    views = {r["id"]: privacy.view_of_row(officer, r) for r in rows}
    return render(request, "officer/requests.html", {
        "rows": rows, "views": views, "total": total, "page": page, "page_size": PAGE_SIZE,
        "params": request.query_params, "now": now,
        "anonymous": privacy.anonymous_label(), "categories": list(Category),
        "hears_voices": privacy.hears_voices(officer),
    }, fragment="officer/_request_table.html", headers=NO_STORE)


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


async def _detail_context(officer: Officer, item: ServiceRequest, error: str = "",
                          error_action: str = "", note: str = "",
                          worker_phone: str = "") -> dict[str, Any]:
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
        "partner_panel": await partners.panel(officer, item),
    }


async def detail(request: Request) -> Response:
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    await audit.record(officer, "request.view", item, ip=client_ip(request))
    await inbox.mark_request_read(item.id, officer_id=officer.id)
    return render(request, "officer/request.html", await _detail_context(officer, item),
                  fragment="officer/_request_panel.html", headers=_detail_headers(officer))


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


async def act(request: Request) -> Response:
    officer = await require_officer(request)
    item = await request_for_officer(officer, int(request.path_params["request_id"]))
    action = request.path_params["action"]
    if action not in lifecycle.TRANSITIONS:
        raise HTTPException(404)
    form = await read_form(request)
    data = form_dict(form)
    voice = voices.NO_VOICE
    if action in lifecycle.VOICE_ACTIONS and privacy.hears_voices(officer):
        voice = await voices.clean_upload(await form_upload(form, "voice", voices.MAX_BYTES))
    note, error = lifecycle.clean_note(data)
    error = error or voice.error
    if not error:
        try:
            await lifecycle.apply_officer_action(officer, item, action, lifecycle.ActionInput(
                note=note, duplicate_of=small_int(data.get("duplicate_of")),
                assignee_id=small_int(data.get("assignee")), voice=voice.voice))
        except DomainError as exc:
            error = exc.message
        else:
            await audit.record(officer, f"request.{action}", item, ip=client_ip(request),
                               **({"voice": True} if voice.voice else {}))
    item = await request_for_officer(officer, item.id) if not error else item
    if not error and request.headers.get("hx-request") != "true":
        return RedirectResponse(f"/officer/requests/{item.id}", status_code=303)
    context = await _detail_context(officer, item, error, action if error else "",
                                    note if error else "")
    return render(request, "officer/request.html", context,
                  status_code=422 if error else 200, fragment="officer/_request_panel.html",
                  headers=_detail_headers(officer))


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
    now = datetime.now(UTC)
    scope = request_scope(officer)
    new = await ServiceRequest.filter(scope, status=Status.SUBMITTED).count()
    overdue = await ServiceRequest.filter(scope, status__in=list(OPEN_STATUSES),
                                          level_due_at__lt=now).count()
    mine_level = {Role.CHAIR: Level.CHAIR, Role.UPPER: Level.UPPER}.get(officer.role)
    escalated = 0
    if mine_level is not None:
        escalated = await ServiceRequest.filter(scope, status__in=list(OPEN_STATUSES),
                                                level=mine_level).count()
    return render(request, "partials/_officer_badges.html",
                  {"new": new, "overdue": overdue, "escalated": escalated}, headers=NO_STORE)


routes = [
    Route("/officer/requests", queue),
    Route("/officer/requests/{request_id:int}", detail),
    # Before the actions' pattern, which would take "phone" for an unknown action.
    Route("/officer/requests/{request_id:int}/phone", worker_phone, methods=["POST"]),
    Route("/officer/requests/{request_id:int}/{action:str}", act, methods=["POST"]),
    Route("/officer/figures", figures_page),
    Route("/officer/figures/requests", request_figures_page),
    Route("/officer/digest", digest_page),
    Route("/officer/digest.xlsx", digest_xlsx),
    Route("/officer/deadlines", deadline_settings, methods=["GET", "POST"]),
    Route("/officer/office", office_settings, methods=["GET", "POST"]),
    Route("/officer/badges", badges),
]
