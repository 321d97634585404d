"""Handing an officer's work on when they leave, and giving work that nobody holds to whoever
can take it.

When an officer is deactivated, their members go to the other active cadres of the project
(same team first, then the least loaded: the rule new members are placed by,
`server.services.membership`), or to the chair when the project has no other cadre; their
open requests go to each worker's new liaison (or the chair), each move an event on the
request's timeline (`server.services.lifecycle.record_event`), which puts it in the new
holder's inbox. The chair can move members again afterwards (the member list's reassign).

When nobody could take them (a project whose only cadre and chair both left), members keep
no liaison and requests no assignee until an officer who can take them is appointed or
reactivated: `adopt_orphans` then places them by the same rules.

A partner account (外部协办) holds referrals, not members: its open referrals go to another
account of the same organisation at the same union, or wait for the next one opened there
(`adopt_referrals`).

Everything here runs inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from server.models import (
    EventKind,
    Member,
    MemberStatus,
    Officer,
    Referral,
    Role,
    ServiceRequest,
    UnionNode,
)
from server.models.requests import OPEN_STATUSES
from server.services import lifecycle, membership, partners, rota


@dataclass
class Receiver:
    """One officer who took work over (id None: nobody could)."""

    id: int | None
    name: str
    members: int = 0
    requests: int = 0
    referrals: int = 0  # a partner's open referrals, taken by a colleague


@dataclass
class HandOver:
    receivers: dict[int | None, Receiver] = field(default_factory=dict)
    rota_days: list[int] = field(default_factory=list)  # weekdays taken off the duty rota

    @property
    def members(self) -> int:
        return sum(r.members for r in self.receivers.values())

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.receivers.values())

    @property
    def referrals(self) -> int:
        return sum(r.referrals for r in self.receivers.values())

    @property
    def unplaced(self) -> Receiver | None:
        return self.receivers.get(None)

    def to(self, officer_id: int | None, names: dict[int, str]) -> Receiver:
        if officer_id not in self.receivers:
            self.receivers[officer_id] = Receiver(
                officer_id, names.get(officer_id, "") if officer_id is not None else "")
        return self.receivers[officer_id]

    def summary(self) -> dict[str, object]:
        """For the audit log: who took how much."""
        out: dict[str, object] = {
            "members": self.members, "requests": self.requests,
            "to": {str(k or "nobody"): [r.members, r.requests]
                   for k, r in self.receivers.items()}}
        if self.referrals:
            out["referrals"] = {str(k or "nobody"): r.referrals
                                for k, r in self.receivers.items() if r.referrals}
        if self.rota_days:
            out["rota_days"] = self.rota_days
        return out


async def _chair_id(project_id: int, exclude: int | None) -> int | None:
    query = Officer.filter(union_id=project_id, role=Role.CHAIR, active=True)
    if exclude is not None:
        query = query.exclude(id=exclude)
    ids = await query.order_by("id").limit(1).values_list("id", flat=True)
    return int(str(ids[0])) if ids else None


async def _placement(project: UnionNode, members: list[tuple[int, int | None]],
                     exclude: int | None) -> dict[int | None, list[int]]:
    """New liaison for each (member id, team id): a cadre of the member's own team if there
    is one, the least loaded of them; else the least loaded cadre; else the chair; else
    nobody. Loads count as members are placed, so a hundred members spread evenly."""
    loads = [cl for cl in await membership.cadre_loads(project) if cl.cadre.id != exclude]
    placed: dict[int | None, list[int]] = {}
    if not loads:
        chair = await _chair_id(project.id, exclude)
        if members:
            placed[chair] = [member_id for member_id, _ in members]
        return placed
    count = {cl.cadre.id: cl.load for cl in loads}
    team_of = {cl.cadre.id: cl.cadre.team_id for cl in loads}  # type: ignore[attr-defined]
    for member_id, team_id in members:
        same_team = [c for c in count if team_id is not None and team_of[c] == team_id]
        chosen = min(same_team or count, key=lambda c: (count[c], c))
        count[chosen] += 1
        placed.setdefault(chosen, []).append(member_id)
    return placed


async def _names(ids: Iterable[int | None]) -> dict[int, str]:
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {int(i): str(n) for i, n in await Officer.filter(id__in=wanted).values_list(
        "id", "name")}


async def _move_members(project: UnionNode, rows: list[tuple[int, int | None, int | None]],
                        exclude: int | None, result: HandOver) -> None:
    """Place members given as (id, team id, current liaison id); a member is moved only if
    their liaison has not changed meanwhile (the chair reassigning them at that moment)."""
    # Members of a team first, so those of no team fill whatever gaps are left (and the
    # order is the same on both databases, which sort NULL differently).
    rows = sorted(rows, key=lambda r: (r[1] is None, r[1] or 0, r[0]))
    placement = await _placement(project, [(m, t) for m, t, _ in rows], exclude)
    names = await _names(placement)
    old_of = {m: old for m, _, old in rows}
    for new_id, member_ids in placement.items():
        if new_id is None:
            # Nobody to take them: they wait without a liaison (see adopt_orphans).
            by_old: dict[int | None, list[int]] = {}
            for member_id in member_ids:
                by_old.setdefault(old_of[member_id], []).append(member_id)
            for old, ids in by_old.items():
                if old is None:
                    result.to(None, names).members += len(ids)
                    continue
                moved = await Member.filter(id__in=ids, liaison_id=old).update(
                    liaison_id=None)
                result.to(None, names).members += moved
            continue
        groups: dict[int | None, list[int]] = {}
        for member_id in member_ids:
            groups.setdefault(old_of[member_id], []).append(member_id)
        for old, ids in groups.items():
            query = Member.filter(id__in=ids, project_id=project.id,
                                  status=MemberStatus.ACTIVE)
            query = query.filter(liaison_id__isnull=True) if old is None else query.filter(
                liaison_id=old)
            result.to(new_id, names).members += await query.update(liaison_id=new_id)


async def _move_requests(requests: list[ServiceRequest], from_id: int | None,
                         by: Officer | None, now: datetime, result: HandOver,
                         exclude: int | None) -> None:
    """Give each open request to its worker's liaison in the request's own project (a
    worker who moved on has a liaison elsewhere), else to that project's chair."""
    liaisons = {r.member.liaison_id for r in requests  # type: ignore[attr-defined]
                if r.member.liaison_id is not None}  # type: ignore[attr-defined]
    usable = {int(i): int(u) for i, u in await Officer.filter(
        id__in=list(liaisons), active=True, role__in=[Role.CADRE, Role.CHAIR]).exclude(
        id=exclude or 0).values_list("id", "union_id")} if liaisons else {}
    chairs: dict[int, int | None] = {}
    targets: dict[int, int | None] = {}
    for r in requests:
        project_id = r.project_id  # type: ignore[attr-defined]
        liaison = r.member.liaison_id  # type: ignore[attr-defined]
        if liaison is not None and usable.get(liaison) == project_id:
            targets[r.id] = liaison
            continue
        if project_id not in chairs:
            chairs[project_id] = await _chair_id(project_id, exclude)
        targets[r.id] = chairs[project_id]
    names = await _names(targets.values())
    for r in requests:
        target = targets[r.id]
        if target is None and from_id is None:
            continue  # held by nobody before and after: nothing happened to it
        query = ServiceRequest.filter(id=r.id, status__in=list(OPEN_STATUSES))
        query = query.filter(assignee_id__isnull=True) if from_id is None else query.filter(
            assignee_id=from_id)
        if not await query.update(assignee_id=target):
            continue  # closed or reassigned meanwhile
        r.assignee_id = target
        # The worker sees on their timeline who holds their request now (a plain line with
        # the new holder's name, who is a union officer of their project); a request that
        # waits for nobody is not news to them.
        detail: dict[str, object] = {"from": from_id, "to": target}
        if target is not None:
            detail["to_name"] = names.get(target, "")
        await lifecycle.record_event(r, EventKind.HANDED_OVER, actor=by,
                                     public=target is not None, detail=detail, now=now)
        result.to(target, names).requests += 1


async def hand_over(officer: Officer, by: Officer | None,
                    now: datetime | None = None) -> HandOver:
    """Hand a (just deactivated) officer's members and open requests to others, and take
    them off the duty rota (workers would otherwise be shown them as today's duty)."""
    now = now or datetime.now(UTC)
    result = HandOver()
    if officer.role == Role.PARTNER:
        await _move_referrals(officer, by, now, result)
        return result
    result.rota_days = await rota.drop_officer(officer.id)
    project = await UnionNode.get(id=officer.union_id)  # type: ignore[attr-defined]
    if project.is_project:
        rows = await Member.filter(liaison_id=officer.id, status=MemberStatus.ACTIVE,
                                   project_id=project.id).values_list(
            "id", "team_id", "liaison_id")
        await _move_members(project, [(int(m), t, o) for m, t, o in rows],
                            officer.id, result)
    requests = await ServiceRequest.filter(
        assignee_id=officer.id, status__in=list(OPEN_STATUSES)).order_by("id").select_related(
        "member")
    await _move_requests(list(requests), officer.id, by, now, result, officer.id)
    return result


async def adopt_orphans(project: UnionNode, by: Officer | None,
                        now: datetime | None = None) -> HandOver:
    """Place the project's members who have no active liaison, then give its open requests
    that nobody active holds to their workers' liaisons (or the chair)."""
    now = now or datetime.now(UTC)
    result = HandOver()
    if not project.is_project:
        return result
    inactive = Subquery(Officer.filter(active=False).values("id"))
    rows = await Member.filter(project_id=project.id, status=MemberStatus.ACTIVE).filter(
        Q(liaison_id__isnull=True) | Q(liaison_id__in=inactive)).values_list(
        "id", "team_id", "liaison_id")
    if rows:
        await _move_members(project, [(int(m), t, o) for m, t, o in rows],
                            None, result)
    orphaned = await ServiceRequest.filter(
        project_id=project.id, status__in=list(OPEN_STATUSES)).filter(
        Q(assignee_id__isnull=True) | Q(assignee_id__in=inactive)).order_by(
        "id").select_related("member")
    by_holder: dict[int | None, list[ServiceRequest]] = {}
    for r in orphaned:
        by_holder.setdefault(r.assignee_id, []).append(r)  # type: ignore[attr-defined]
    for holder, requests in by_holder.items():
        await _move_requests(requests, holder, by, now, result, None)
    # Nobody could take them before either: not news.
    result.receivers.pop(None, None)
    return result


async def _colleagues(partner: Officer) -> tuple[str, list[int]]:
    """The partner's organisation, and the other active accounts of it at the same union."""
    organisation = await partners.organisation_of(partner.id)
    ids = await Officer.filter(
        role=Role.PARTNER, active=True, union_id=partner.union_id,  # type: ignore[attr-defined]
        partner_profile__organisation=organisation).exclude(id=partner.id).order_by(
        "id").values_list("id", flat=True)
    return organisation, [int(i) for i in ids]  # type: ignore[call-overload]


async def _move_referrals(partner: Officer, by: Officer | None, now: datetime,
                          result: HandOver) -> None:
    """A partner's open referrals go to another account of the same organisation at the
    same union (the least loaded): the worker's consent was given to the organisation, so
    it carries over. With no such account they wait: the chair is told, and the next
    account of that organisation opened or reactivated there takes them
    (`adopt_referrals`)."""
    open_ones = await Referral.filter(partner_id=partner.id, closed_at__isnull=True).order_by(
        "id").select_related("request")
    if not open_ones:
        return
    organisation, colleagues = await _colleagues(partner)
    await _give_referrals(list(open_ones), colleagues, organisation, partner.name, by, now,
                          result)


async def _give_referrals(referrals: list[Referral], colleagues: list[int], organisation: str,
                          from_name: str, by: Officer | None, now: datetime,
                          result: HandOver) -> None:
    if not colleagues:
        result.to(None, {}).referrals += len(referrals)
        return
    load = {c: 0 for c in colleagues}
    for partner_id, n in await Referral.filter(
            partner_id__in=colleagues, closed_at__isnull=True).group_by(
            "partner_id").annotate(n=Count("id")).values_list("partner_id", "n"):
        load[int(partner_id)] = int(n)
    names = await _names(colleagues)
    for referral in referrals:
        request = referral.request
        target = min(colleagues, key=lambda c: (load[c], c))
        # Only while it is still open and still the old account's: two hand-overs at once
        # (two accounts appointed together) move it once.
        still = Referral.filter(id=referral.id, closed_at__isnull=True,
                                partner_id=referral.partner_id)  # type: ignore[attr-defined]
        if await Referral.filter(request_id=request.id, partner_id=target,
                                 closed_at__isnull=True).exists():
            # The colleague already holds this request's referral: the old one is closed
            # as the same case, not left open under an account nobody uses.
            await still.update(closed_at=now, open_key=None)
            continue
        if not await still.update(partner_id=target):
            continue  # closed or moved meanwhile
        load[target] += 1
        # Internal: the worker's consent and the case are unchanged, only the account.
        await lifecycle.record_event(
            request, EventKind.PARTNER_REFERRED, actor=by, public=False, now=now,
            detail={"referral": referral.id, "partner": target, "organisation": organisation,
                    "consent": str(referral.consent), "from_name": from_name,
                    "to_name": names.get(target, "")})
        result.to(target, names).referrals += 1


async def adopt_referrals(partner: Officer, by: Officer | None,
                          now: datetime | None = None) -> HandOver:
    """Open referrals waiting on deactivated accounts of this (new or reactivated)
    partner's organisation at its union come to it."""
    now = now or datetime.now(UTC)
    result = HandOver()
    organisation = await partners.organisation_of(partner.id)
    waiting = await Referral.filter(
        closed_at__isnull=True, partner__active=False, partner__role=Role.PARTNER,
        partner__union_id=partner.union_id,  # type: ignore[attr-defined]
        partner__partner_profile__organisation=organisation).order_by("id").select_related(
        "request", "partner")
    by_old: dict[int, list[Referral]] = {}
    for referral in waiting:
        by_old.setdefault(referral.partner.id, []).append(referral)
    for old in by_old.values():
        await _give_referrals(old, [partner.id], organisation, old[0].partner.name, by, now,
                              result)
    return result
