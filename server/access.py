"""Who may see and do what. Every route asks here; nothing else decides access.

Officers see members inside their union node's subtree, and only roles that may ever see
identities (admin, chair, cadre) see them at all. Objects outside a viewer's scope are
answered with 404, so their existence does not leak.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from tortoise.expressions import Q, Subquery
from tortoise.models import Model
from tortoise.queryset import QuerySet

from server.db import get_with_related
from server.i18n import gettext
from server.models import (
    CannedReply,
    Member,
    Notice,
    Officer,
    Referral,
    Role,
    ServiceRequest,
    SessionKind,
    SharedProblem,
    UnionNode,
)
from server.web.sessions import SessionState, state_of

T = TypeVar("T", bound=Model)

# The signed-in officer as pages see it: an Officer with its union, loaded once per process
# and shared by that officer's requests until their row changes. The session lookup reads
# the officer's `version` on every request (server.services.sessions.find), so a change made
# by any process (deactivation, new role) is seen on the very next request everywhere. A
# snapshot is never modified: handlers and services that change an officer load their own.
# Snapshots also lapse after a few minutes, for what the version does not cover (the
# union's name or place in the tree).
SNAPSHOT_SECONDS = 300.0
MAX_SNAPSHOTS = 10_000


@dataclass(frozen=True)
class _Snapshot:
    version: int
    loaded_at: float
    officer: Officer


_snapshots: dict[int, _Snapshot] = {}


def forget_all_officers() -> None:
    """Drop every cached snapshot in this process (tests switch databases between modules;
    officer ids then name other people)."""
    _snapshots.clear()


def login_redirect(request: Request) -> HTTPException:
    if request.headers.get("x-lianxin-outbox"):
        # The outbox takes a redirect for "arrived": a queued officer action whose session
        # lapsed must stay queued ("needs attention") until they sign in again, not vanish.
        return HTTPException(401, detail=gettext("登录已过期，请重新登录后在“待发送”里重发"))
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    from urllib.parse import quote

    return HTTPException(303, headers={"Location": "/officer/login?next=" + quote(target)})


async def current_officer(request: Request) -> Officer | None:
    if "officer" in request.scope:
        return request.scope["officer"]
    officer: Officer | None = None
    state = state_of(request)
    if state is not None:
        state.used = True
        if state.officer is not None:
            officer = await _officer(state.officer.subject_id, state.officer.officer_version)
            if officer is None:
                state.sign_out(SessionKind.OFFICER)
    request.scope["officer"] = officer
    return officer


async def _officer(officer_id: int, version: int) -> Officer | None:
    now = time.monotonic()
    cached = _snapshots.get(officer_id)
    if cached is not None and cached.version == version and (
            now - cached.loaded_at < SNAPSHOT_SECONDS):
        return cached.officer
    officer = await Officer.get_or_none(id=officer_id, active=True).select_related("union")
    if officer is None:
        _snapshots.pop(officer_id, None)
        return None
    if len(_snapshots) >= MAX_SNAPSHOTS:
        _snapshots.clear()
    _snapshots[officer_id] = _Snapshot(officer.version, now, officer)
    return officer


def sign_in_officer(request: Request, officer: Officer) -> None:
    """Sign the officer in: a new session (new cookie key, new CSRF token)."""
    _state(request).sign_in(SessionKind.OFFICER, officer.id, officer.session_epoch)
    request.scope["officer"] = officer


def sign_out_officer(request: Request) -> None:
    """End the officer's session on the server; a copy of the cookie stops working too."""
    _state(request).sign_out(SessionKind.OFFICER)
    request.scope["officer"] = None


async def require_officer(request: Request, *roles: Role) -> Officer:
    """The signed-in officer, if their role is one of `roles` (any union role when none is
    named). A partner reaches only the pages that name `Role.PARTNER`; everywhere else it
    is answered 404, as if the page did not exist (it is no union officer)."""
    officer = await current_officer(request)
    if officer is None:
        raise login_redirect(request)
    if officer.role == Role.PARTNER and Role.PARTNER not in roles:
        raise HTTPException(404)
    if roles and officer.role not in roles and officer.role != Role.ADMIN:
        raise HTTPException(403)
    return officer


async def current_member(request: Request) -> Member | None:
    if "member" in request.scope:
        return request.scope["member"]
    member: Member | None = None
    state = state_of(request)
    if state is not None:
        state.used = True
        if state.member is not None:
            # A member who left stays signed in: their requests are still theirs to read
            # and follow up; what they may no longer do is each service's decision.
            member = await get_with_related(Member, state.member.subject_id,
                                            "project", "team", "liaison")
            if member is None:
                state.sign_out(SessionKind.MEMBER)
    request.scope["member"] = member
    return member


def sign_in_member(request: Request, member: Member) -> None:
    """Sign the worker in on this phone: a new session (new cookie key, new CSRF token)."""
    _state(request).sign_in(SessionKind.MEMBER, member.id, member.session_epoch)
    request.scope["member"] = member


def _state(request: Request) -> SessionState:
    state = state_of(request)
    if state is None:
        raise RuntimeError("sessions are not set up for " + request.url.path)
    return state


class NotJoined(HTTPException):
    """A worker's page opened on a phone that holds no membership (a new phone, cleared
    data, a second join form): answered with the way back, not a bare "not allowed"."""

    def __init__(self) -> None:
        super().__init__(403, detail=_not_joined())


async def require_member(request: Request) -> Member:
    member = await current_member(request)
    if member is None:
        raise NotJoined()
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


async def _one_in_scope(query: QuerySet[T], object_id: int, *related: str) -> T:
    """The object with this id inside `query` (a viewer's scope), or 404: an id outside the
    scope is answered exactly like one that does not exist, so existence does not leak."""
    if not 0 < object_id < 2**31:
        raise HTTPException(404)
    found = await query.filter(id=object_id).select_related(*related).first()
    if found is None:
        raise HTTPException(404)
    return found


async def member_for_officer(officer: Officer, member_id: int) -> Member:
    return await _one_in_scope(Member.filter(member_scope(officer)), member_id,
                               "project", "team", "liaison")


def request_scope(officer: Officer) -> Q:
    """Requests an officer may open: a cadre their own workers', a chair or the upper union
    their subtree, a manager only what was referred to management in their project."""
    if officer.role == Role.ADMIN:
        return Q()
    if officer.role == Role.CADRE:
        return Q(assignee_id=officer.id)
    if officer.role == Role.MANAGER:
        return Q(project_id=officer.union.id, referred=True)
    if officer.role == Role.PARTNER:
        # What was referred to this partner, and nothing else (server.services.partners).
        return Q(id__in=Subquery(Referral.filter(partner_id=officer.id).values("request_id")))
    return Q(project_id__in=projects_under(officer.union.path))


async def request_for_officer(officer: Officer, request_id: int) -> ServiceRequest:
    return await _one_in_scope(ServiceRequest.filter(request_scope(officer)), request_id,
                               "member", "member__team", "project", "assignee")


async def request_for_member(member: Member, request_id: int) -> ServiceRequest:
    return await _one_in_scope(ServiceRequest.filter(member_id=member.id), request_id,
                               "member", "project", "assignee")


def shared_scope(officer: Officer) -> Q:
    """Shared problems an officer may open: those of the projects in their subtree (for a
    manager, their own project; what they see of one is `privacy`'s decision)."""
    if officer.role == Role.ADMIN:
        return Q()
    return Q(project_id__in=projects_under(officer.union.path))


async def shared_for_officer(officer: Officer, problem_id: int) -> SharedProblem:
    return await _one_in_scope(SharedProblem.filter(shared_scope(officer)), problem_id)


async def shared_for_member(member: Member, problem_id: int) -> SharedProblem:
    """A shared problem of the member's own project; another project's is 404."""
    return await _one_in_scope(SharedProblem.filter(project_id=member.project_id),  # type: ignore[attr-defined]
                               problem_id)
async def wage_case_for_officer(officer: Officer, request_id: int) -> ServiceRequest:
    """A wage case in the officer's scope, for its claims and the inspector's list: only
    officers who may know who workers are (never management or the upper union); 404
    otherwise, as for a request they may not open."""
    item = await request_for_officer(officer, request_id)
    if item.category != "wages" or not officer.sees_identities:
        raise HTTPException(404)
    return item


async def wage_case_for_member(member: Member, request_id: int) -> ServiceRequest:
    """A wage case a member may join with their own claim: one of their own project's.
    Anyone else gets 404, as for a request that does not exist."""
    item = await ServiceRequest.get_or_none(id=request_id, category="wages",
                                            project_id=member.project_id)  # type: ignore[attr-defined]
    if item is None or member.status != "active":
        raise HTTPException(404)
    await item.fetch_related("project")
    return item


def can_review_members(officer: Officer) -> bool:
    return officer.role in {Role.ADMIN, Role.CHAIR, Role.CADRE}


def can_reassign(officer: Officer) -> bool:
    return officer.role in {Role.ADMIN, Role.CHAIR}


def canned_project(officer: Officer) -> UnionNode | None:
    """The project whose canned replies (常用回复) the officer reads: a project's chair and
    cadres read their own project's list; anyone else has none."""
    if officer.role in {Role.CHAIR, Role.CADRE} and officer.union.is_project:
        return officer.union
    return None


def may_keep_canned(officer: Officer) -> bool:
    """Only the project's chair adds, edits, orders and deletes its canned replies."""
    return officer.role == Role.CHAIR and officer.union.is_project


def reads_canned_for(officer: Officer, request: ServiceRequest) -> bool:
    """Whether the request page offers `officer` the canned replies of the request's project:
    union officers who answer workers there (its chair and cadres, and the admin)."""
    if officer.role == Role.ADMIN:
        return True
    project = canned_project(officer)
    return project is not None and project.id == request.project_id  # type: ignore[attr-defined]


async def canned_reply_for_chair(officer: Officer, reply_id: int) -> CannedReply:
    """One of the chair's own project's canned replies; 403 for anyone who keeps none, 404
    for another project's."""
    if not may_keep_canned(officer):
        raise HTTPException(403)
    return await _one_in_scope(CannedReply.filter(project_id=officer.union.id), reply_id)


async def notice_for_officer(officer: Officer, notice_id: int) -> Notice:
    """A notice in the officer's list (their node and below, and what was sent down to their
    project); 404 otherwise."""
    from server.services.notices import for_officer

    return await _one_in_scope(Notice.filter(for_officer(officer)), notice_id,
                               "union", "author", "team")


# --- managing officers' accounts ----------------------------------------------------------
# A project's chair manages the cadres and managers of that project; an upper union the
# chairs of the projects below it and the upper-union officers of the nodes below it; the
# admin everyone. Nobody manages their own account, nor anyone at their own node or above
# it: no account can lock out the one that manages it.

# Partner accounts (外部协办) may be placed by a chair at the project and by an upper union
# at its own node or any below it.
MANAGED_ROLES: dict[Role, tuple[Role, ...]] = {
    Role.CHAIR: (Role.CADRE, Role.MANAGER, Role.PARTNER),
    Role.UPPER: (Role.CHAIR, Role.UPPER, Role.PARTNER),
    Role.ADMIN: tuple(Role),
}


def can_manage_officers(officer: Officer) -> bool:
    if officer.role == Role.CHAIR:
        return officer.union.is_project
    if officer.role == Role.UPPER:
        return not officer.union.is_project
    return officer.role == Role.ADMIN


def managed_roles(officer: Officer) -> tuple[Role, ...]:
    return MANAGED_ROLES.get(officer.role, ()) if can_manage_officers(officer) else ()


def nodes_managed_by(officer: Officer) -> Q:
    """Union nodes where `officer` may place accounts (as UnionNode filter); 403 if none."""
    if not can_manage_officers(officer):
        raise HTTPException(403)
    if officer.role == Role.ADMIN:
        return Q()
    if officer.role == Role.CHAIR:
        return Q(id=officer.union.id)
    return Q(path__startswith=officer.union.path) & ~Q(id=officer.union.id)


def officers_managed_by(officer: Officer) -> Q:
    """The accounts `officer` may manage (as Officer filter); 403 for roles that manage none."""
    if not can_manage_officers(officer):
        raise HTTPException(403)
    mine = ~Q(id=officer.id)
    if officer.role == Role.ADMIN:
        return mine
    roles = list(managed_roles(officer))
    if officer.role == Role.CHAIR:
        return mine & Q(union_id=officer.union.id, role__in=roles)
    return mine & ((Q(union__path__startswith=officer.union.path, role__in=roles) & ~Q(
        union_id=officer.union.id)) | Q(union_id=officer.union.id, role=Role.PARTNER))


def partner_nodes_of(officer: Officer) -> Q:
    """Union nodes where `officer` may place a partner account (as UnionNode filter): those
    of `nodes_managed_by`, and an upper union's own node."""
    nodes = nodes_managed_by(officer)
    return nodes | Q(id=officer.union.id) if officer.role == Role.UPPER else nodes


def may_appoint(officer: Officer, role: Role, node: UnionNode) -> bool:
    """Whether `officer` may give an account of `role` at `node` (a new one, or a new role)."""
    if role not in managed_roles(officer):
        return False
    if officer.role == Role.ADMIN:
        return True
    if officer.role == Role.CHAIR:
        return node.id == officer.union.id
    if role == Role.PARTNER:
        return officer.union.contains(node)
    return officer.union.contains(node) and node.id != officer.union.id


def may_change_role(officer: Officer, target: Officer, role: Role) -> bool:
    """A partner account stays a partner's (it belongs to an organisation outside the
    union), and no union account becomes one: a new account is made instead."""
    if Role.PARTNER in {role, target.role}:
        return False
    return may_appoint(officer, role, target.union)


def may_promote_to_chair(officer: Officer, target: Officer) -> bool:
    """An upper union names a project's cadre or manager its chair (their account, unseen
    in its list otherwise, keeps its password and history)."""
    return (target.id != officer.id and target.role in {Role.CADRE, Role.MANAGER}
            and target.union.is_project and may_appoint(officer, Role.CHAIR, target.union))


async def officer_for_manager(officer: Officer, officer_id: int) -> Officer:
    """An account `officer` manages, or 404 (one outside is answered as one that is not)."""
    return await _one_in_scope(Officer.filter(officers_managed_by(officer)), officer_id,
                               "union", "team")
