"""QR invites: a token bound to a project (and optionally a team), and its join URL."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from server.errors import DomainError
from server.i18n import gettext
from server.models import Invite, Team, UnionNode

# A poster's invite is read on every scan of a mass-enrolment day; its project, team and the
# project's teams rarely change. Kept per process for a few seconds: a revoked invite stops
# working, and a team a chair adds (forget_cached_invites, in that process at once) shows in
# every process's join form, within CACHE_SECONDS.
CACHE_SECONDS = 10.0




async def get_or_create_invite(project_code: str, team_name: str | None = None) -> Invite:
    project = await UnionNode.get_or_none(code=project_code)
    if project is None or not project.is_project:
        raise DomainError(gettext("找不到项目工会 %(code)s") % {"code": project_code}, status=404)
    team = None
    if team_name:
        team = await Team.get_or_none(project=project, name=team_name)
        if team is None:
            raise DomainError(gettext("项目里没有班组 %(team)s") % {"team": team_name}, status=404)
    invite = await Invite.filter(project=project, team=team, revoked=False).order_by("id").first()
    if invite is None:
        invite = await Invite.create(token=secrets.token_urlsafe(12), project=project, team=team)
    await invite.fetch_related("project", "team")
    return invite


async def replace_invite(project_code: str, team_name: str | None = None) -> Invite:
    """Revoke the poster's current invite and make a new one. For a poster whose code got
    where it should not (photographed into a public group, posted on another site): the old
    QR code stops working here at once and in other processes within CACHE_SECONDS."""
    current = await get_or_create_invite(project_code, team_name)
    await Invite.filter(id=current.id).update(revoked=True)
    forget_cached_invites()
    return await get_or_create_invite(project_code, team_name)


def join_url(base_url: str, invite: Invite) -> str:
    return f"{base_url}/join/{invite.token}"


@dataclass(frozen=True)
class JoinTarget:
    invite: Invite
    teams: list[Team]
    expires: float
    # The join form as anonymous visitors see it, rendered once while this entry lives.
    pages: dict[tuple[str, bool, str], str] = field(default_factory=dict)


_cache: dict[str, JoinTarget] = {}


async def join_target(token: str) -> JoinTarget | None:
    """The live invite behind a poster's token, with its project's teams (for the form)."""
    if not token or len(token) > 32:
        return None
    now = time.monotonic()
    cached = _cache.get(token)
    if cached is not None and cached.expires > now:
        return cached
    invite = await Invite.get_or_none(token=token, revoked=False).select_related("project",
                                                                                 "team")
    if invite is None:
        _cache.pop(token, None)
        return None
    teams = await Team.filter(project_id=invite.project.id).order_by("name")
    if len(_cache) > 1000:  # tokens are few; bound it anyway against made-up ones
        _cache.clear()
    _cache[token] = target = JoinTarget(invite, teams, now + CACHE_SECONDS)
    return target


def forget_cached_invites() -> None:
    _cache.clear()
