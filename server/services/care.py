"""The 1+X+100 duty of care: who each cadre has been in touch with, and when.

Contact is any request event someone took part in (an officer acting on, or the worker
writing in, a request of the member's present project), a notice acknowledgement, or a
visit or call the cadre logged (走访记录, one tap, offline through the outbox). Each of
those writes `member.last_contact_at` as it happens, in the same transaction, so a
cadre's list of a hundred members and a chair's table of fifty cadres read member rows
through the (liaison_id, status) and (project_id, status) indexes and never scan events.

Events nobody took part in (the deadline job escalating or closing a request by itself)
are not contact: an escalation for want of an answer is the opposite of being in touch.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery
from tortoise.functions import Count

from server.db import transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.models import (
    ContactKind,
    ContactLog,
    Member,
    MemberStatus,
    Officer,
    Role,
    Team,
    UnionNode,
)
from server.services import audit
from server.services.membership import LIAISON_LIMIT
from server.validation import Cleaner

# "Contacted lately" on the chair's table: the share of a cadre's members in touch within it.
RECENT = timedelta(days=30)
MAX_NOTE = 200
# A cadre's list is one page: a cadre far over the hundred still sees everyone up to this.
MAX_LIST = 1000


async def note_contact(member_id: int, when: datetime, *, project_id: int | None = None,
                       conn: BaseDBAsyncClient | None = None) -> None:
    """Move the member's last contact forward to `when` (never back). With `project_id`,
    only while the member is still at that project: a reply on a request of the site
    they left is not the new site's cadre being in touch."""
    query = Member.filter(Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=when),
                          id=member_id)
    if project_id is not None:
        query = query.filter(project_id=project_id)
    if conn is not None:
        query = query.using_db(conn)
    await query.update(last_contact_at=when)


# --- 走访记录 --------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewContact:
    client_id: uuid.UUID
    kind: ContactKind
    note: str


def clean_contact(data: Mapping[str, object]) -> tuple[NewContact | None, dict[str, str]]:
    c = Cleaner(data)
    client_id = c.client_id()
    kind = c.choice("kind", {str(k): k for k in ContactKind}, required=True,
                    label=N_("联系方式"))
    note = c.text("note", required=False, max_length=MAX_NOTE, label=N_("备注"))
    if c.errors:
        return None, c.errors
    return NewContact(client_id, ContactKind(kind), note), {}


async def log_contact(officer: Officer, member: Member, new: NewContact, *, ip: str = "",
                      now: datetime | None = None) -> tuple[ContactLog, bool]:
    """Record a visit or call once per client_id; True when newly recorded. The caller has
    checked that the member is in the officer's scope."""
    done = await ContactLog.get_or_none(client_id=new.client_id)
    if done is not None:
        return _replay(done, officer, member, new), False
    if member.status != MemberStatus.ACTIVE:
        raise DomainError(gettext("只能给正式会员记走访"), status=409)
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            log = await ContactLog.create(
                client_id=new.client_id, member_id=member.id, officer_id=officer.id,
                project_id=member.project_id,  # type: ignore[attr-defined]
                kind=new.kind, note=new.note, created_at=now)
            await note_contact(member.id, now,
                               project_id=member.project_id)  # type: ignore[attr-defined]
    except IntegrityError:
        done = await ContactLog.get_or_none(client_id=new.client_id)
        if done is None:
            raise
        return _replay(done, officer, member, new), False
    await audit.record(officer, "member.contact", member, ip=ip, kind=str(new.kind))
    return log, True


def _replay(done: ContactLog, officer: Officer, member: Member, new: NewContact) -> ContactLog:
    """The same form again answers as the first time; a client_id is not a credential."""
    if (done.member_id != member.id or done.officer_id != officer.id  # type: ignore[attr-defined]
            or done.kind != new.kind or done.note != new.note):
        raise invalid_form_key()
    return done


async def recent_contacts(member: Member, limit: int = 10) -> list[ContactLog]:
    """The member's latest logged visits and calls at their present project."""
    return await ContactLog.filter(
        member_id=member.id, project_id=member.project_id,  # type: ignore[attr-defined]
    ).order_by("-id").limit(limit).select_related("officer")


# --- the cadre's list -----------------------------------------------------------------------

CARE_COLUMNS = ("id", "name", "phone", "member_no", "team__name", "last_contact_at")


async def members_of(cadre: Officer) -> list[dict[str, Any]]:
    """The cadre's active members in their project, never contacted first, then the longest
    out of touch first (ordered here: SQLite and PostgreSQL put NULLs at opposite ends)."""
    rows = await Member.filter(
        liaison_id=cadre.id, status=MemberStatus.ACTIVE,
        project_id=cadre.union_id,  # type: ignore[attr-defined]
    ).limit(MAX_LIST).values(*CARE_COLUMNS)
    oldest = datetime.min.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (r["last_contact_at"] is not None,
                             r["last_contact_at"] or oldest, r["name"]))
    return rows


def days_since(when: datetime | None, now: datetime) -> int | None:
    return None if when is None else max(0, (now - when).days)


# --- the chair's table ----------------------------------------------------------------------

@dataclass
class CadreCare:
    officer_id: int | None  # None: members with no liaison at all
    name: str
    team: str
    active: bool  # an active cadre (a chair standing in, or a deactivated account, is not)
    members: int = 0
    recent: int = 0
    never: int = 0

    @property
    def coverage(self) -> int | None:
        """Percent of the members in touch within RECENT; None with no members."""
        return round(100 * self.recent / self.members) if self.members else None

    @property
    def over_limit(self) -> bool:
        return self.members > LIAISON_LIMIT


@dataclass
class CareOverview:
    cadres: list[CadreCare]
    teams_without_cadre: list[str]
    members: int
    recent: int
    never: int
    no_cadre: bool
    over_limit: list[CadreCare] = field(default_factory=list)

    @property
    def coverage(self) -> int | None:
        return round(100 * self.recent / self.members) if self.members else None


async def overview(project: UnionNode, now: datetime | None = None) -> CareOverview:
    """Each cadre's load and contact coverage in a project, with the chair's warnings:
    cadres over the hundred, teams no active cadre belongs to. Three grouped counts over
    the project's active members, whatever the number of cadres."""
    now = now or datetime.now(UTC)
    active = Member.filter(project_id=project.id, status=MemberStatus.ACTIVE)
    by_liaison = await _grouped(active)
    recent = await _grouped(active.filter(last_contact_at__gte=now - RECENT))
    never = await _grouped(active.filter(last_contact_at__isnull=True))
    cadres = await Officer.filter(union_id=project.id, role=Role.CADRE, active=True).order_by(
        "name", "id").select_related("team")
    rows = [CadreCare(c.id, c.name, c.team.name if c.team else "", True) for c in cadres]
    known = {c.id for c in cadres}
    others = [i for i in by_liaison if i is not None and i not in known]
    if others:
        # Members whose liaison is the chair standing in, or an account since deactivated.
        for o in await Officer.filter(id__in=others).order_by("name").select_related("team"):
            rows.append(CadreCare(o.id, o.name, o.team.name if o.team else "", False))
    if None in by_liaison:
        rows.append(CadreCare(None, gettext("未分配"), "", False))
    for row in rows:
        row.members = by_liaison.get(row.officer_id, 0)
        row.recent = recent.get(row.officer_id, 0)
        row.never = never.get(row.officer_id, 0)
    staffed = Subquery(Officer.filter(union_id=project.id, role=Role.CADRE, active=True,
                                      team_id__isnull=False).values("team_id"))
    bare = await Team.filter(project_id=project.id).exclude(id__in=staffed).order_by(
        "name").values_list("name", flat=True)
    return CareOverview(
        cadres=rows, teams_without_cadre=[str(t) for t in bare],
        members=sum(by_liaison.values()), recent=sum(recent.values()),
        never=sum(never.values()), no_cadre=not cadres,
        over_limit=[r for r in rows if r.officer_id is not None and r.over_limit])


async def _grouped(query: Any) -> dict[int | None, int]:
    pairs = await query.annotate(n=Count("id")).group_by("liaison_id").values_list(
        "liaison_id", "n")
    return {(int(k) if k is not None else None): int(n) for k, n in pairs}


async def cadre_in_project(project: UnionNode, officer_id: int) -> Officer | None:
    """An officer of the project whose list the chair may open (a cadre, active or not, or
    the chair themself standing in as a liaison)."""
    return await Officer.get_or_none(id=officer_id, union_id=project.id,
                                     role__in=[Role.CADRE, Role.CHAIR])
