"""Approval, member numbers and the 1+X+100 liaison link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.functions import Count

from server.db import fetch, transaction
from server.errors import DomainError
from server.i18n import gettext
from server.models import Member, MemberStatus, Officer, Role, UnionNode
from server.services import audit

LIAISON_LIMIT = 100  # the "100" of 1+X+100: a cadre over this is flagged


@dataclass
class CadreLoad:
    cadre: Officer
    load: int

    @property
    def over_limit(self) -> bool:
        return self.load > LIAISON_LIMIT


async def cadre_loads(project: UnionNode) -> list[CadreLoad]:
    cadres = await Officer.filter(union=project, role=Role.CADRE, active=True).order_by(
        "id").select_related("team")
    counts = dict(
        await Member.filter(project=project, status=MemberStatus.ACTIVE, liaison_id__isnull=False)
        .annotate(n=Count("id"))
        .group_by("liaison_id")
        .values_list("liaison_id", "n")
    )
    return [CadreLoad(c, int(counts.get(c.id, 0))) for c in cadres]


# One statement on every enrolment of a mass-enrolment day: the cadres of the project with
# their active members counted (index on member (liaison_id, status)), own team first.
LEAST_LOADED_CADRE = """
SELECT o.id FROM officer o
LEFT JOIN member m ON m.liaison_id = o.id AND m.status = ? AND m.project_id = ?
WHERE o.union_id = ? AND o.role = ? AND o.active = ?
GROUP BY o.id, o.team_id
ORDER BY CASE WHEN o.team_id = ? THEN 0 ELSE 1 END, COUNT(m.id), o.id
LIMIT 1
"""


async def choose_liaison_id(project_id: int, team_id: int | None) -> int | None:
    """Least-loaded cadre of the project, the member's own team first; else the chair."""
    rows = await fetch(LEAST_LOADED_CADRE, MemberStatus.ACTIVE.value, project_id, project_id,
                       Role.CADRE.value, True, team_id or 0)
    if rows:
        return int(rows[0][0])
    chair = await Officer.filter(union_id=project_id, role=Role.CHAIR, active=True).order_by(
        "id").limit(1).values_list("id", flat=True)
    return int(str(chair[0])) if chair else None


async def filing_assignee_id(member: Member) -> int | None:
    """Whom a worker's new request goes to: their liaison while that officer is active;
    otherwise a stand-in chosen as at approval (the least-loaded active cadre, own team
    first; else the chair), so a request never waits on a deactivated account."""
    liaison_id: int | None = member.liaison_id  # type: ignore[attr-defined]
    if liaison_id is None or await Officer.exists(id=liaison_id, active=True):
        return liaison_id
    return await choose_liaison_id(member.project_id,  # type: ignore[attr-defined]
                                   member.team_id)  # type: ignore[attr-defined]


async def approve(member: Member, officer: Officer | None) -> Member:
    if member.status == MemberStatus.ACTIVE:
        return member
    if member.status != MemberStatus.PENDING:
        raise DomainError(gettext("这条入会申请已经被处理过了"), status=409)
    async with transaction():
        # Two cadres pressing "approve" at once: the row lock makes the second one see the
        # first one's result (PostgreSQL; SQLite serialises writers anyway).
        locked = await Member.filter(id=member.id).select_for_update().get()
        if locked.status != MemberStatus.PENDING:
            raise DomainError(gettext("这条入会申请已经被处理过了"), status=409)
        await activate(member, officer)
    return member


async def numbering(project_id: int, team_id: int | None) -> dict[str, Any]:
    """The fields that make an approved member: the project's next member number and a
    liaison cadre. A number taken by an enrolment that then fails (a replayed form) is not
    reused: member numbers may have gaps, never duplicates."""
    seq = await fetch("UPDATE union_node SET member_seq = member_seq + 1 WHERE id = ? "
                      "RETURNING member_seq", project_id)
    return {"member_no": f"LX{project_id:04d}{int(seq[0][0]):06d}",
            "status": MemberStatus.ACTIVE, "joined_at": datetime.now(UTC),
            "liaison_id": await choose_liaison_id(project_id, team_id)}


async def rejoining(project_id: int, team_id: int | None,
                    now: datetime | None = None) -> dict[str, Any]:
    """The fields that make a member who already has a number (they moved here, or came
    back after leaving) active again: the number stays, a liaison of this project is
    chosen, and their stretch here starts now."""
    return {"status": MemberStatus.ACTIVE, "project_since": now or datetime.now(UTC),
            "liaison_id": await choose_liaison_id(project_id, team_id)}


async def activate(member: Member, officer: Officer | None) -> None:
    """Approve a pending member inside the caller's transaction, on a locked row."""
    project_id, team_id = member.project_id, member.team_id  # type: ignore[attr-defined]
    # A member who moved here keeps the number they have (server.services.moves).
    fields = await (rejoining(project_id, team_id) if member.member_no
                    else numbering(project_id, team_id))
    for key, value in fields.items():
        setattr(member, key, value)
    member.reviewed_by = officer
    await member.save(update_fields=[*fields, "reviewed_by_id"])


async def reject(member: Member, officer: Officer, reason: str) -> Member:
    if member.status != MemberStatus.PENDING:
        raise DomainError(gettext("这条入会申请已经被处理过了"), status=409)
    # Conditional: only a still-pending application can be rejected (no lost update).
    changed = await Member.filter(id=member.id, status=MemberStatus.PENDING).update(
        status=MemberStatus.REJECTED, reject_reason=reason[:200], reviewed_by_id=officer.id)
    if not changed:
        raise DomainError(gettext("这条入会申请已经被处理过了"), status=409)
    await member.refresh_from_db()
    return member


async def reassign_by(officer: Officer, member_ids: list[int], cadre_id: int, *,
                      ip: str) -> tuple[Officer, int]:
    """A chair moves members (already checked to be in their scope) to another liaison: an
    active cadre of a project inside the chair's own union. On the record."""
    cadre = await Officer.get_or_none(id=cadre_id, role=Role.CADRE,
                                      active=True).select_related("union")
    if cadre is None or not (officer.role == Role.ADMIN or officer.union.contains(cadre.union)):
        raise DomainError(gettext("请选择一位本项目的工会干部"), status=400, field="cadre_id")
    moved = await reassign(member_ids, cadre, cadre.union)
    await audit.record(officer, "member.reassign", cadre, ip=ip, member_ids=member_ids,
                       moved=moved)
    return cadre, moved


async def reassign(member_ids: list[int], cadre: Officer, scope_project: UnionNode) -> int:
    """Move members to another liaison cadre of the same project; returns how many moved."""
    if cadre.role != Role.CADRE or cadre.union_id != scope_project.id:  # type: ignore[attr-defined]
        raise DomainError(gettext("请选择一位本项目的工会干部"), status=400, field="cadre_id")
    return await Member.filter(id__in=member_ids, project=scope_project,
                               status=MemberStatus.ACTIVE).update(liaison=cadre)
