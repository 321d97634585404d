"""The one function that decides whose identity a viewer may see on a request.

Management and the upper union never see who filed a request. "Anonymous to everyone"
hides the worker from union officers too (they still answer in the thread). The worker
always sees their own name.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.i18n import gettext
from server.models import Anonymity, Member, Officer, Role, ServiceRequest, Team


@dataclass(frozen=True)
class Identity:
    name: str
    member_no: str
    team: str
    member_id: int | None


def visible_identity(viewer: Officer | Member | None, request: ServiceRequest,
                     member: Member) -> Identity | None:
    """The filer's identity as `viewer` may see it, or None when it must stay hidden."""
    if isinstance(viewer, Member):
        if viewer.id == member.id:
            return _identity(member)
        return None
    if viewer is None or viewer.role in {Role.MANAGER, Role.UPPER}:
        return None
    if request.anonymity == Anonymity.ALL:
        return None
    return _identity(member)


def _identity(member: Member) -> Identity:
    team = getattr(member, "team", None)
    # Only a fetched Team counts; an unfetched relation must not trigger a query here.
    team_name = team.name if isinstance(team, Team) else ""
    return Identity(member.name, member.member_no or "", team_name, member.id)


def anonymous_label() -> str:
    return gettext("匿名工友")
