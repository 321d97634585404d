"""Assisted enrolment: on mass enrolment days a cadre signs workers up on their own phone,
one after another, with or without signal (each form goes through the outbox)."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from server.access import require_officer
from server.errors import DomainError
from server.models import Officer, Role, Team
from server.routes.officer import client_ip
from server.services import enrolment
from server.validation import OTHER_TRADE, TRADES
from server.web.forms import form_dict, read_form
from server.web.templating import render


def _project(officer: Officer) -> None:
    if not officer.union.is_project:
        raise HTTPException(404)



def _context(officer: Officer, teams: list[Team], values: Mapping[str, object],
             errors: dict[str, str]) -> dict[str, object]:
    return {"invite": {"team": None}, "project": officer.union, "teams": teams,
            "trades": TRADES, "other_trade": OTHER_TRADE, "values": values, "errors": errors,
            "action": "/officer/enrol", "assisted": True}


async def enrol_form(request: Request) -> Response:
    officer = await require_officer(request, Role.CADRE, Role.CHAIR)
    _project(officer)
    teams = await Team.filter(project=officer.union).order_by("name")
    values: dict[str, object] = {"team": str(officer.team_id or "")}  # type: ignore[attr-defined]
    # No personal data on this page, so unlike other officer pages it may be cached offline.
    return render(request, "join/form.html", _context(officer, teams, values, {}),
                  fragment="join/_form.html", headers={"Cache-Control": "no-cache, private"})


async def enrol_submit(request: Request) -> Response:
    officer = await require_officer(request, Role.CADRE, Role.CHAIR)
    _project(officer)
    form = form_dict(await read_form(request))
    teams = await Team.filter(project=officer.union).order_by("name")
    data, errors = enrolment.clean(form, teams)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if data is None:
        return render(request, "join/form.html", _context(officer, teams, values, errors),
                      status_code=422, fragment="join/_form.html")
    try:
        await enrolment.enrol_assisted(officer, data, request.app.state.keyring,
                                       ip=client_ip(request))
    except DomainError as exc:
        return render(request, "join/form.html",
                      _context(officer, teams, values, exc.as_errors()),
                      status_code=exc.status, fragment="join/_form.html")
    return RedirectResponse("/officer/enrol?done=1", status_code=303)


routes = [
    Route("/officer/enrol", enrol_form, methods=["GET"]),
    Route("/officer/enrol", enrol_submit, methods=["POST"]),
]
