"""A project's teams and their enrolment posters, from the officer pages: the chair adds a
team when it arrives on site, and the chair and cadres print the QR poster (the whole project,
or one team) without anyone running the command line."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.access import require_officer
from server.errors import DomainError
from server.models import Invite, Officer, Role, Team, UnionNode
from server.routes.officer import NO_STORE, client_ip
from server.services import audit, unions
from server.services.invites import forget_cached_invites, get_or_create_invite, join_url
from server.services.offload import run_heavy
from server.services.posters import CONTENT_TYPES, poster_bytes
from server.validation import small_int
from server.web.forms import form_dict, read_form
from server.web.templating import render


async def _project_officer(request: Request) -> Officer:
    officer = await require_officer(request, Role.CHAIR, Role.CADRE)
    if not officer.union.is_project:
        raise HTTPException(404)
    return officer


async def _invite(officer: Officer, team: Team | None) -> Invite:
    return await get_or_create_invite(officer.union.code, team.name if team else None)


async def poster_list(request: Request) -> Response:
    officer = await _project_officer(request)
    values: dict[str, str] = {}
    error = ""
    status_code = 200
    if request.method == "POST":
        if officer.role != Role.CHAIR:
            raise HTTPException(403)
        values = {"name": str(form_dict(await read_form(request)).get("name", ""))[:200]}
        try:
            added = await unions.add_team(officer.union, values["name"])
        except DomainError as exc:
            error, status_code = str(exc), 422
        else:
            await audit.record(officer, "team.add", added, ip=client_ip(request),
                               name=added.name)
            values = {}
            forget_cached_invites()  # the join form's team list changes now, not in 10 s
    base = request.app.state.settings.base_url
    teams = await Team.filter(project_id=officer.union.id).order_by("name")
    rows = []
    for team in [None, *teams]:
        invite = await _invite(officer, team)
        rows.append({"team": team, "url": join_url(base, invite)})
    return render(request, "officer/posters.html",
                  {"rows": rows, "values": values, "error": error,
                   "can_add": officer.role == Role.CHAIR},
                  status_code=status_code, fragment="officer/_posters.html", headers=NO_STORE)


async def poster_file(request: Request) -> Response:
    officer = await _project_officer(request)
    suffix = "." + request.path_params["fmt"]
    if suffix not in CONTENT_TYPES:
        raise HTTPException(404)
    team = None
    if (team_id := small_int(request.query_params.get("team"))) is not None:
        # Only a team of the officer's own project: anything else does not exist for them.
        team = await Team.get_or_none(id=team_id, project_id=officer.union.id)
        if team is None:
            raise HTTPException(404)
    invite = await _invite(officer, team)
    project = officer.union
    parent = await UnionNode.get_or_none(id=project.parent_id)  # type: ignore[attr-defined]
    url = join_url(request.app.state.settings.base_url, invite)
    body = await run_heavy(poster_bytes, suffix, url=url,
                           union_name=parent.name if parent else project.name,
                           project_name=project.name, team_name=team.name if team else None)
    await audit.record(officer, "poster.download", project, ip=client_ip(request),
                       team=team.name if team else "", format=suffix[1:])
    name = f"lianxin-poster-{project.code}{'-team' + str(team.id) if team else ''}{suffix}"
    return Response(body, media_type=CONTENT_TYPES[suffix], headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'})


routes = [
    Route("/officer/posters", poster_list, methods=["GET", "POST"]),
    Route("/officer/posters/poster.{fmt:str}", poster_file),
]
