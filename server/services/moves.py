"""Members who leave a site (离场) and who move to another project.

A member is one row for as long as they are the same person: moving keeps the row, so the
member number, the card (signed over the row's id and phone epoch) and every request filed
at the old site stay theirs. The row's `project` is where they are now; `member_move`
keeps each stretch that ended, so a project's figures for a past day still count the
members it had then.

One project at a time: a phone is pending or active in at most one project, which the
database holds (the partial UNIQUE index `member_live_phone`), not a check before writing,
so forty joins at two posters at once still leave one member in one project.

Who may move a member: only the member. Knowing a phone number proves nothing (numbers
are printed on rosters and recycled by carriers), so a join form with a member's phone
moves that member only when it comes from the member's own signed-in phone, that is a
live member session, which the worker got by joining on that phone or by redeeming a
re-bind code an officer gave them after checking who they are. Any other sender's form
becomes a `MemberClaim` for the member's present officers, answered as a new application
is (server.services.enrolment.join), and moves nobody.

Leaving: the member (on /me, after a confirmation) or their cadre or chair (with a reason,
on the audit record). A member who left keeps their session: they can still read their
requests and follow up the ones still open, which stay with the officers handling them.
Wage arrears are typically what a worker leaving a site is owed, so closing their
requests on departure would drop exactly the cases that matter most. They cannot file new
requests, receive no notices, and their card no longer checks as valid. Scanning any
project's poster on the same phone brings them back with their number.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from server.crypto import Keyring
from server.db import transaction
from server.errors import DomainError
from server.i18n import N_, gettext
from server.models import (
    Member,
    MemberMove,
    MemberStatus,
    MoveKind,
    Officer,
    Role,
    UnionNode,
)
from server.services import audit, membership
from server.validation import Cleaner, mask_id_number

if TYPE_CHECKING:
    from server.services.enrolment import EnrolmentData

LIVE = (MemberStatus.PENDING, MemberStatus.ACTIVE)
MAX_REASON = 200


def stretch_start(member: Member) -> datetime | None:
    """When the member's present stretch at their project began, if they are active."""
    if member.status != MemberStatus.ACTIVE:
        return None
    return member.project_since or member.joined_at


# --- leaving ---------------------------------------------------------------------------------

def _already_gone() -> DomainError:
    return DomainError(gettext("这位会员已经离场了"), status=409)


def clean_reason(data: dict[str, object]) -> tuple[str, dict[str, str]]:
    c = Cleaner(data)
    reason = c.text("reason", required=True, max_length=MAX_REASON, label=N_("离场原因"))
    return reason, c.errors


def may_mark_left(officer: Officer, member: Member) -> bool:
    """A cadre marks their own members; a chair (or admin) any member in their scope (the
    caller has checked the scope)."""
    if officer.role in {Role.CHAIR, Role.ADMIN}:
        return True
    return officer.role == Role.CADRE and member.liaison_id == officer.id  # type: ignore[attr-defined]


async def leave(member: Member, *, by: Officer | None = None, reason: str = "",
                ip: str = "", now: datetime | None = None) -> Member:
    """End the member's stretch at their project. `by` is the officer who marked it (then
    `reason` is required and the action is audited), None when the member left themself."""
    if by is not None and not reason.strip():
        raise DomainError(gettext("请填写离场原因"), field="reason")
    now = now or datetime.now(UTC)
    async with transaction():
        # Locked (PostgreSQL) and then changed only from the state read: a leave racing a
        # move or an approval loses cleanly instead of writing a stretch that never was.
        locked = await Member.filter(id=member.id).select_for_update().get()
        if locked.status not in LIVE:
            raise _already_gone()
        changed = await Member.filter(id=locked.id, status=locked.status,
                                      project_id=locked.project_id  # type: ignore[attr-defined]
                                      ).update(status=MemberStatus.LEFT, left_at=now)
        if not changed:
            raise _already_gone()
        await MemberMove.create(
            member_id=locked.id, kind=MoveKind.LEFT,
            from_project_id=locked.project_id,  # type: ignore[attr-defined]
            from_team_id=locked.team_id,  # type: ignore[attr-defined]
            from_status=locked.status, to_project_id=None, started_at=stretch_start(locked),
            created_at=now, by_officer=by, reason=reason.strip()[:MAX_REASON])
    if by is not None:
        await audit.record(by, "member.left", locked, ip=ip, reason=reason.strip()[:MAX_REASON])
    await member.refresh_from_db()
    return member


# --- moving ----------------------------------------------------------------------------------

def _reused_form() -> DomainError:
    return DomainError(gettext("这份表单已经提交过了，不能再用来登记。请刷新页面，重新填写。"),
                       status=422)


def _taken_here() -> DomainError:
    return DomainError(gettext("这个手机号在这个项目还有另一份登记，请找工会干部处理。"),
                       status=409, field="phone")


async def move_here(member_id: int, project: UnionNode, data: EnrolmentData,
                    keyring: Keyring, *, now: datetime | None = None) -> Member:
    """The proven member `member_id` joins `project` with the answers in `data`: a move
    from another project, a return after leaving or a rejection, or nothing at all when
    they are already pending or active here.

    The row keeps its id, number, card and requests; it goes through `project`'s approval
    rule (active with a liaison at once where the project approves by itself, pending for
    a cadre otherwise) and the stretch it leaves is written to `member_move`, in one
    transaction. The caller has established that the sender is the member (their own
    signed-in phone). The form's client_id makes a resend answer as the first time did.
    """
    replay = await _replayed_move(member_id, project, data)
    if replay is not None:
        return replay
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            member = await Member.filter(id=member_id).select_for_update().get()
            here = member.project_id == project.id  # type: ignore[attr-defined]
            if here and member.status in LIVE:
                return member
            fields = await _joining_fields(member, project, data, keyring, now)
            # Only from the state read: under PostgreSQL the row lock already serialises
            # concurrent moves of one member; this makes the same true wherever it does not.
            changed = await Member.filter(
                id=member.id, status=member.status,
                project_id=member.project_id,  # type: ignore[attr-defined]
            ).update(**fields)
            if not changed:
                raise DomainError(gettext("你的会籍刚有变化，请刷新后再试"), status=409)
            await MemberMove.create(
                member_id=member.id, kind=MoveKind.REJOINED if here else MoveKind.MOVED,
                from_project_id=member.project_id,  # type: ignore[attr-defined]
                from_team_id=member.team_id,  # type: ignore[attr-defined]
                from_status=member.status, to_project_id=project.id,
                started_at=stretch_start(member), created_at=now, client_id=data.client_id)
    except IntegrityError:
        # The form's client_id was taken meanwhile (the same form twice at once), or the
        # phone is in the way: another row of this phone at the project (a record from
        # before moves kept the row), or pending or active elsewhere under another row.
        replay = await _replayed_move(member_id, project, data)
        if replay is not None:
            return replay
        raise _taken_here() from None
    return await Member.get(id=member_id)


async def _replayed_move(member_id: int, project: UnionNode,
                         data: EnrolmentData) -> Member | None:
    done = await MemberMove.get_or_none(client_id=data.client_id)
    if done is None:
        return None
    if done.member_id != member_id or done.to_project_id != project.id:  # type: ignore[attr-defined]
        raise _reused_form()
    return await Member.get(id=member_id)


async def _joining_fields(member: Member, project: UnionNode, data: EnrolmentData,
                          keyring: Keyring, now: datetime) -> dict[str, Any]:
    team_id = data.team.id if data.team else None
    fields: dict[str, Any] = {
        "project_id": project.id, "team_id": team_id, "name": data.name,
        "trade": data.trade, "employer": data.employer, "hometown": data.hometown,
        "left_at": None, "reject_reason": "", "reviewed_by_id": None,
    }
    if data.id_number:  # left blank: the number on file stays
        fields["id_number_enc"] = keyring.encrypt(data.id_number)
        fields["id_number_masked"] = mask_id_number(data.id_number)
    if member.project_id != project.id:  # type: ignore[attr-defined]
        # The new site's cadre has not been in touch yet: the member is among those they
        # have never contacted until they are.
        fields["last_contact_at"] = None
    if not project.auto_approve:
        fields.update(status=MemberStatus.PENDING, liaison_id=None)
    elif member.member_no:
        fields.update(await membership.rejoining(project.id, team_id, now))
    else:
        fields.update(await membership.numbering(project.id, team_id))
    return fields


# --- figures over time -----------------------------------------------------------------------

async def history(member: Member) -> list[MemberMove]:
    """The member's closed stretches and moves, oldest first, with the projects named."""
    return await MemberMove.filter(member_id=member.id).order_by("id").select_related(
        "from_project", "to_project", "by_officer")


async def active_members_at(project_id: int, when: datetime) -> int:
    """How many active members `project_id` had at `when`: those active there now whose
    stretch began by then, and the stretches that have ended since but covered it."""
    began = Q(project_since__lte=when) | Q(project_since__isnull=True, joined_at__lte=when)
    now_here = await Member.filter(began, project_id=project_id,
                                   status=MemberStatus.ACTIVE).count()
    ended_since = await MemberMove.filter(from_project_id=project_id,
                                          from_status=MemberStatus.ACTIVE,
                                          started_at__lte=when, created_at__gt=when).count()
    return now_here + ended_since
