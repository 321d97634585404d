"""Who may see and do what. Every route asks here; nothing else decides access.

Officers see members inside their union node's subtree, and only roles that may ever see
identities (admin, chair, cadre) see them at all. Objects outside a viewer's scope are
answered with 404, so their existence does not leak.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from tortoise.expressions import Q, Subquery

from server.models import Member, MemberStatus, Notice, Officer, Role, ServiceRequest, UnionNode

OFFICER_KEY = "officer"
MEMBER_KEY = "member"
# The signed-in officer, kept per process for a few seconds: officer pages poll (badges
# every 30 s) and a queue is paged through quickly, and every one of those requests would
# otherwise load the officer and their union again. Deactivating an officer or ending their
# sessions (session epoch) takes effect within this many seconds.
OFFICER_CACHE_SECONDS = 5.0
_officers: dict[int, tuple[float, Officer]] = {}


def login_redirect(request: Request) -> HTTPException:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    from urllib.parse import quote

    return HTTPException(303, headers={"Location": "/officer/login?next=" + quote(target)})


async def current_officer(request: Request) -> Officer | None:
    if "officer" in request.scope:
        return request.scope["officer"]
    officer: Officer | None = None
    data: Any = request.session.get(OFFICER_KEY)
    max_age = request.app.state.settings.officer_session_hours * 3600
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        if time.time() - float(data.get("at", 0)) < max_age:
            officer = await _officer(data["id"])
            if officer is not None and officer.session_epoch != data.get("epoch"):
                officer = None
        if officer is None:
            request.session.pop(OFFICER_KEY, None)
    request.scope["officer"] = officer
    return officer


async def _officer(officer_id: int) -> Officer | None:
    now = time.monotonic()
    cached = _officers.get(officer_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    officer = await Officer.get_or_none(id=officer_id, active=True).select_related("union")
    if officer is None:
        _officers.pop(officer_id, None)
        return None
    if len(_officers) > 10_000:
        _officers.clear()
    _officers[officer_id] = (now + OFFICER_CACHE_SECONDS, officer)
    return officer


def forget_officer(officer_id: int) -> None:
    """Drop a cached officer at once (this process), e.g. after changing their account."""
    _officers.pop(officer_id, None)


def sign_in_officer(request: Request, officer: Officer) -> None:
    request.session[OFFICER_KEY] = {"id": officer.id, "epoch": officer.session_epoch,
                                    "at": int(time.time())}
    request.scope["officer"] = officer


def sign_out_officer(request: Request) -> None:
    request.session.pop(OFFICER_KEY, None)
    request.scope["officer"] = None


async def require_officer(request: Request, *roles: Role) -> Officer:
    officer = await current_officer(request)
    if officer is None:
        raise login_redirect(request)
    if roles and officer.role not in roles and officer.role != Role.ADMIN:
        raise HTTPException(403)
    return officer


async def current_member(request: Request) -> Member | None:
    if "member" in request.scope:
        return request.scope["member"]
    member: Member | None = None
    data: Any = request.session.get(MEMBER_KEY)
    if isinstance(data, dict) and isinstance(data.get("id"), int):
        member = await Member.get_or_none(id=data["id"]).select_related("project", "team",
                                                                         "liaison")
        if member is None or member.session_epoch != data.get("epoch") or (
            member.status == MemberStatus.LEFT
        ):
            member = None
            request.session.pop(MEMBER_KEY, None)
    request.scope["member"] = member
    return member


def sign_in_member(request: Request, member: Member) -> None:
    request.session[MEMBER_KEY] = {"id": member.id, "epoch": member.session_epoch}
    request.scope["member"] = member


async def require_member(request: Request) -> Member:
    member = await current_member(request)
    if member is None:
        raise HTTPException(403, detail=_not_joined())
    return member


def _not_joined() -> str:
    from server.i18n import gettext

    return gettext("请先扫描工地上的入会二维码加入工会；换了手机请找工会干部要换机码。")


# --- scopes -------------------------------------------------------------------------------

def projects_under(path: str) -> Subquery:
    """Ids of the project unions in a subtree. Filtering big tables by `project_id IN (…)`
    uses their project_id indexes; a LIKE on a copied path could not on PostgreSQL."""
    return Subquery(UnionNode.filter(path__startswith=path, kind="project").values("id"))


def union_scope(officer: Officer) -> Q:
    """Union nodes inside the officer's own node (inclusive)."""
    if officer.role == Role.ADMIN:
        return Q()
    return Q(path__startswith=officer.union.path)


def member_scope(officer: Officer) -> Q:
    """Members whose identity this officer may see; raises 403 for roles that never may."""
    if not officer.sees_identities:
        raise HTTPException(403)
    if officer.role == Role.ADMIN:
        return Q()
    return Q(project_id__in=projects_under(officer.union.path))


async def member_for_officer(officer: Officer, member_id: int) -> Member:
    if not 0 < member_id < 2**31:
        raise HTTPException(404)
    member = await Member.filter(member_scope(officer), id=member_id).select_related(
        "project", "team", "liaison").first()
    if member is None:
        raise HTTPException(404)
    return member


async def project_for_officer(officer: Officer, project_id: int | None = None) -> UnionNode:
    """A project union the officer works in; 404 outside their subtree."""
    if project_id is None:
        if officer.union.is_project:
            return officer.union
        raise HTTPException(404)
    project = await UnionNode.filter(union_scope(officer), id=project_id, kind="project").first()
    if project is None:
        raise HTTPException(404)
    return project


def request_scope(officer: Officer) -> Q:
    """Requests an officer may open: a cadre their own workers', a chair or the upper union
    their subtree, a manager only what was referred to management in their project."""
    if officer.role == Role.ADMIN:
        return Q()
    if officer.role == Role.CADRE:
        return Q(assignee_id=officer.id)
    if officer.role == Role.MANAGER:
        return Q(project_id=officer.union.id, referred=True)
    return Q(project_id__in=projects_under(officer.union.path))


async def request_for_officer(officer: Officer, request_id: int) -> ServiceRequest:
    if not 0 < request_id < 2**31:
        raise HTTPException(404)
    found = await ServiceRequest.filter(request_scope(officer), id=request_id).select_related(
        "member", "member__team", "project", "assignee").first()
    if found is None:
        raise HTTPException(404)
    return found


async def request_for_member(member: Member, request_id: int) -> ServiceRequest:
    if not 0 < request_id < 2**31:
        raise HTTPException(404)
    found = await ServiceRequest.filter(member_id=member.id, id=request_id).select_related(
        "member", "project", "assignee").first()
    if found is None:
        raise HTTPException(404)
    return found


def can_review_members(officer: Officer) -> bool:
    return officer.role in {Role.ADMIN, Role.CHAIR, Role.CADRE}


def can_reassign(officer: Officer) -> bool:
    return officer.role in {Role.ADMIN, Role.CHAIR}


async def notice_for_officer(officer: Officer, notice_id: int) -> Notice:
    """A notice in the officer's list (their node and below, and what was sent down to their
    project); 404 otherwise."""
    from server.services.notices import for_officer

    if not 0 < notice_id < 2**31:
        raise HTTPException(404)
    found = await Notice.filter(for_officer(officer), id=notice_id).select_related(
        "union", "author", "team").first()
    if found is None:
        raise HTTPException(404)
    return found
