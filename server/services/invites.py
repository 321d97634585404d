"""QR invites: a token bound to a project (and optionally a team), and its join URL."""

from __future__ import annotations

import secrets

from server.models import Invite, Team, UnionNode


class InviteError(ValueError):
    pass


async def get_or_create_invite(project_code: str, team_name: str | None = None) -> Invite:
    project = await UnionNode.get_or_none(code=project_code)
    if project is None or not project.is_project:
        raise InviteError(f"no project union with code {project_code!r}")
    team = None
    if team_name:
        team = await Team.get_or_none(project=project, name=team_name)
        if team is None:
            raise InviteError(f"project {project_code!r} has no team {team_name!r}")
    invite = await Invite.filter(project=project, team=team, revoked=False).order_by("id").first()
    if invite is None:
        invite = await Invite.create(token=secrets.token_urlsafe(12), project=project, team=team)
    await invite.fetch_related("project", "team")
    return invite


def join_url(base_url: str, invite: Invite) -> str:
    return f"{base_url}/join/{invite.token}"


async def invite_by_token(token: str) -> Invite | None:
    if not token or len(token) > 32:
        return None
    return await Invite.get_or_none(token=token, revoked=False).select_related("project", "team")
