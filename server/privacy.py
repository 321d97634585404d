"""The one function that decides whose identity a viewer may see on a request.

Management and the upper union never see who filed a request. "Anonymous to everyone"
hides the worker from union officers too (they still answer in the thread). The worker
always sees their own name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.i18n import gettext
from server.models import Anonymity, Member, Officer, Role, ServiceRequest, Team


@dataclass(frozen=True)
class Identity:
    name: str
    member_no: str
    team: str
    member_id: int | None


def may_see_filer(viewer: Officer | Member | None, anonymity: str, member_id: int) -> bool:
    """Whether `viewer` may know who filed a request: the one rule, for every page, list,
    fragment and export."""
    if isinstance(viewer, Member):
        return viewer.id == member_id
    if viewer is None or viewer.role in {Role.MANAGER, Role.UPPER}:
        return False
    return anonymity != Anonymity.ALL


def visible_identity(viewer: Officer | Member | None, request: ServiceRequest,
                     member: Member) -> Identity | None:
    """The filer's identity as `viewer` may see it, or None when it must stay hidden."""
    if not may_see_filer(viewer, request.anonymity, member.id):
        return None
    return _identity(member)


def visible_identity_of_row(viewer: Officer | Member | None,
                            row: dict[str, Any]) -> Identity | None:
    """The same, for a list row read as values (see `IDENTITY_COLUMNS`), not as models."""
    if not may_see_filer(viewer, row["anonymity"], row["member_id"]):
        return None
    return Identity(row["member__name"], row["member__member_no"] or "",
                    row["member__team__name"] or "", row["member_id"])


# The columns `visible_identity_of_row` reads, to select alongside a list's own.
IDENTITY_COLUMNS = ("anonymity", "member_id", "member__name", "member__member_no",
                    "member__team__name")


def _identity(member: Member) -> Identity:
    team = getattr(member, "team", None)
    # Only a fetched Team counts; an unfetched relation must not trigger a query here.
    team_name = team.name if isinstance(team, Team) else ""
    return Identity(member.name, member.member_no or "", team_name, member.id)


def anonymous_label() -> str:
    return gettext("匿名工友")
