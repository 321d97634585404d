"""The chair's duty rota page (值日表)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import require_officer
from server.errors import DomainError
from server.models import Category, Officer, Role
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, rota
from server.web.forms import form_dict, read_form
from server.web.templating import render


async def rota_page(request: Request) -> Response:
    officer = await require_officer(request, Role.CHAIR)
    if not officer.union.is_project:
        raise HTTPException(404)
    errors: dict[str, str] = {}
    rows = await rota.week(officer.union)
    if request.method == "POST":
        try:
            rows = rota.rows_from_form(form_dict(await read_form(request)))
            await rota.set_week(officer.union, rows)
        except DomainError as exc:
            errors = exc.as_errors()
        else:
            await audit.record(officer, "rota.update", officer.union, ip=client_ip(request))
            return RedirectResponse("/officer/rota?saved=1", status_code=303)
    officers = await Officer.filter(union=officer.union, active=True).order_by("id")
    return render(request, "officer/rota.html", {
        "rows": rows, "errors": errors, "officers": officers, "categories": list(Category),
        "weekdays": rota.WEEKDAY_LABELS, "saved": request.query_params.get("saved") == "1",
    }, status_code=422 if errors else 200, headers=NO_STORE)


routes = [
    Route("/officer/rota", rota_page, methods=["GET", "POST"]),
]
