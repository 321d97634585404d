"""The view from above (the project table of an upper union, one project's figures, the
Excel file) and coverage (the chair's headcount form)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from server.access import require_officer
from server.db import reads_from_replica
from server.errors import DomainError
from server.models import Officer, Role, Team
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, coverage, figure_rows, partners, upper
from server.validation import small_int
from server.web.forms import form_dict, read_form
from server.web.templating import (
    fill_slot,
    is_htmx,
    render,
    render_part,
    render_with_slot,
)


def _table_params(request: Request, now: datetime) -> tuple[upper.Period, str, bool, int]:
    params = request.query_params
    period = upper.period_from(params.get("from"), params.get("to"), now)
    page = min(small_int(params.get("page")) or 1, 10_000)
    return period, params.get("sort", ""), params.get("dir") == "desc", page


def _require_upper(officer: Officer) -> None:
    if not upper.sees_table(officer):
        raise HTTPException(403)


async def upper_page(request: Request, officer: Officer) -> Response:
    """/officer/figures for a union above the projects (called by the figures route).

    The page is the same for every reader of the union with the same role in the same
    language and view but for their CSRF token, and changes only when the memo's snapshot
    does: it is rendered once per snapshot and kept beside it with a slot for the token
    (the part below the tabs once more for the htmx view), so a view costs the session
    lookup and a string replace (bench/README.md, "The upper union's project tables")."""
    now = datetime.now(UTC)
    period, sort, descending, page = _table_params(request, now)
    max_age = request.app.state.settings.figures_cache_seconds
    memo = _memo(request)
    htmx = is_htmx(request)
    key = upper.memo_key(officer, period)
    view = (request.scope.get("language", ""), htmx,
            sort if sort in upper.SORT_KEYS else "", descending, page)
    # The page around the body reads the reader's role and union kind (the tabs) and the
    # address (the language switch); nothing else of them but the token.
    whole = (*view, str(officer.role), str(officer.union.kind), request.url.path,
             request.url.query)
    if max_age > 0:
        html = memo.page(key, view if htmx else whole, max_age)
        if html is not None:
            with reads_from_replica():  # the task started here reads where the page would
                upper.refresh(officer, period, now, memo, max_age)
            return _answer(request, html, htmx)
    with reads_from_replica():
        table = await upper.table(officer, period, now, sort, descending, page,
                                  memo=memo, max_age=max_age)
    html = render_part(request, "officer/_project_table.html" if htmx
                       else "officer/_upper_body.html", {
        "t": table, "columns": upper.COLUMNS, "sort_link": _sort_link(table),
        "period_query": _period_query(table.period), "page_size": upper.PAGE_SIZE,
        "params": _table_query(table)})
    if not htmx:
        html = render_with_slot(request, "officer/upper_figures.html", {"body": Markup(html)})  # noqa: S704 - our own autoescaped templates
    if max_age > 0:
        memo.keep_page(key, view if htmx else whole, table.made, html)
    return _answer(request, html, htmx)


def _answer(request: Request, html: str, htmx: bool) -> Response:
    if htmx:
        response = HTMLResponse(html, headers=NO_STORE)
        response.headers.append("Vary", "HX-Request")
        return response
    return fill_slot(request, html, NO_STORE)


def _table_query(table: upper.Table) -> dict[str, str]:
    """The query string of this view of the table (for the pager and the Excel link)."""
    query = {"from": table.period.first, "to": table.period.last}
    if table.sort:
        query |= {"sort": table.sort, "dir": "desc" if table.descending else "asc"}
    return query


def _memo(request: Request) -> upper.Memo:
    """The app's memo of assembled tables (made on first use: one per app, so per process
    and per database)."""
    memo = getattr(request.app.state, "figures_memo", None)
    if memo is None:
        memo = request.app.state.figures_memo = upper.Memo()
    return memo


def _period_query(period: upper.Period) -> str:
    return urlencode({"from": period.first, "to": period.last})


def _sort_link(table: upper.Table) -> dict[str, str]:
    """Each column's sort link: the same period; a second tap on the sorted column turns
    the order round. Counts and rates start with the largest, names with A."""
    links = {}
    for column in upper.COLUMNS:
        if column.key == table.sort:
            descending = not table.descending
        else:
            descending = column.kind != "text"
        links[column.key] = "?" + urlencode({
            "from": table.period.first, "to": table.period.last, "sort": column.key,
            "dir": "desc" if descending else "asc"})
    return links


async def table_xlsx(request: Request) -> Response:
    officer = await require_officer(request, Role.UPPER)
    _require_upper(officer)
    now = datetime.now(UTC)
    period, sort, descending, _page = _table_params(request, now)
    with reads_from_replica():
        table = await upper.table(officer, period, now, sort, descending, page_size=None)
        body = await upper.workbook(table)
    await audit.record(officer, "figures.export", officer.union, ip=client_ip(request),
                       start=period.first, end=period.last)
    return Response(body, media_type=upper.XLSX_TYPE, headers={
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="{upper.xlsx_filename(table)}"'})


async def project_page(request: Request) -> Response:
    officer = await require_officer(request, Role.UPPER)
    _require_upper(officer)
    project = await upper.project_in_scope(officer, int(request.path_params["project_id"]))
    if project is None:
        raise HTTPException(404)
    now = datetime.now(UTC)
    period, _sort, _desc, _page = _table_params(request, now)
    with reads_from_replica():
        view = await upper.project_view(officer, project, period, now)
        referral_figures = await partners.figures_for(officer, project.id)
    return render(request, "officer/figures_project.html", {
        "v": view, "columns": upper.COLUMNS, "period_query": _period_query(period),
        "suppressed": officer.role != Role.ADMIN,
        "referral_figures": referral_figures, "outcome_labels": partners.OUTCOME_LABELS,
    }, headers=NO_STORE)


async def coverage_page(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR)
    project = officer.union
    if not project.is_project:
        raise HTTPException(404)
    teams = await Team.filter(project=project).order_by("name")
    errors: dict[str, str] = {}
    values: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = form_dict(await read_form(request))
        values = {k: str(v)[:40] for k, v in form.items() if isinstance(v, str)}
        try:
            entry = coverage.clean(form, teams, figure_rows.today_china())
            await coverage.record(officer, project, entry, ip=client_ip(request))
        except DomainError as exc:
            errors, status = exc.as_errors(), exc.status
        else:
            return RedirectResponse("/officer/coverage?saved=1", status_code=303)
    current = await coverage.of_project(project)
    return render(request, "officer/coverage.html", {
        "c": current, "teams": teams, "errors": errors, "values": values,
        "today": figure_rows.today_china().isoformat(),
        "saved": request.query_params.get("saved") == "1",
    }, status_code=status, headers=NO_STORE)


routes = [
    Route("/officer/figures.xlsx", table_xlsx),
    Route("/officer/figures/projects/{project_id:int}", project_page),
    Route("/officer/coverage", coverage_page, methods=["GET", "POST"]),
]
