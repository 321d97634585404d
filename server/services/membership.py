"""Approval, member numbers and the 1+X+100 liaison link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from server.models import Member, MemberStatus, Officer, Role, UnionNode

LIAISON_LIMIT = 100  # the "100" of 1+X+100: a cadre over this is flagged


class MembershipError(ValueError):
    pass


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


async def choose_liaison(member: Member) -> Officer | None:
    """Least-loaded cadre of the project, the member's own team first; else the chair."""
    loads = await cadre_loads(member.project)
    team_id = getattr(member, "team_id", None)
    same_team = [cl for cl in loads if team_id and getattr(cl.cadre, "team_id", None) == team_id]
    pool = same_team or loads
    if pool:
        return min(pool, key=lambda cl: (cl.load, cl.cadre.id)).cadre
    return await Officer.filter(union=member.project, role=Role.CHAIR, active=True).first()


async def approve(member: Member, officer: Officer | None) -> Member:
    if member.status == MemberStatus.ACTIVE:
        return member
    if member.status != MemberStatus.PENDING:
        raise MembershipError(member.status)
    await member.fetch_related("project")
    async with in_transaction():
        # Two cadres pressing "approve" at once: the row lock makes the second one see the
        # first one's result (PostgreSQL; SQLite serialises writers anyway).
        locked = await Member.filter(id=member.id).select_for_update().get()
        if locked.status != MemberStatus.PENDING:
            raise MembershipError(locked.status)
        await UnionNode.filter(id=member.project.id).update(member_seq=F("member_seq") + 1)
        seq = await UnionNode.get(id=member.project.id).values_list("member_seq", flat=True)
        member.member_no = f"LX{member.project.id:04d}{int(str(seq)):06d}"
        member.status = MemberStatus.ACTIVE
        member.joined_at = datetime.now(UTC)
        member.reviewed_by = officer
        member.liaison = await choose_liaison(member)
        await member.save()
    return member


async def reject(member: Member, officer: Officer, reason: str) -> Member:
    if member.status != MemberStatus.PENDING:
        raise MembershipError(member.status)
    # Conditional: only a still-pending application can be rejected (no lost update).
    changed = await Member.filter(id=member.id, status=MemberStatus.PENDING).update(
        status=MemberStatus.REJECTED, reject_reason=reason[:200], reviewed_by_id=officer.id)
    if not changed:
        raise MembershipError("already reviewed")
    await member.refresh_from_db()
    return member


async def reassign(member_ids: list[int], cadre: Officer, scope_project: UnionNode) -> int:
    """Move members to another liaison cadre of the same project; returns how many moved."""
    if cadre.role != Role.CADRE or cadre.union_id != scope_project.id:  # type: ignore[attr-defined]
        raise MembershipError("cadre outside project")
    return await Member.filter(id__in=member_ids, project=scope_project,
                               status=MemberStatus.ACTIVE).update(liaison=cadre)
