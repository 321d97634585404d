"""Joining the union from a QR invite: checking the form and creating the member exactly once."""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from server.crypto import Keyring
from server.errors import DomainError, TooManyAttempts
from server.i18n import N_, gettext
from server.models import Member, MemberClaim, MemberStatus, Officer, Team, UnionNode
from server.services import audit, limits, membership, moves
from server.services.moves import LIVE
from server.validation import OTHER_TRADE, TRADES, Cleaner, mask_id_number


@dataclass
class EnrolmentData:
    client_id: uuid.UUID
    name: str
    phone: str
    trade: str
    team: Team | None
    employer: str
    hometown: str
    id_number: str


def clean(data: Mapping[str, object], teams: list[Team]) -> tuple[EnrolmentData | None,
                                                                  dict[str, str]]:
    """The cleaned enrolment, or None and the errors keyed by field name."""
    c = Cleaner(data)
    client_id = c.client_id()
    name = c.text("name", required=True, max_length=20, label=N_("姓名"))
    phone = c.phone()
    trade = c.choice("trade", {t: t for t in TRADES} | {OTHER_TRADE: ""}, required=True,
                     label=N_("工种"))
    if trade == OTHER_TRADE:
        trade = c.text("trade_other", required=True, max_length=20, label=N_("其他工种"))
    team_id = c.choice("team", {str(t.id): t for t in teams}, required=False, label=N_("班组"))
    team = next((t for t in teams if str(t.id) == team_id), None)
    employer = c.text("employer", required=False, max_length=60, label=N_("劳务公司/用工单位"))
    hometown = c.text("hometown", required=False, max_length=30, label=N_("家乡"))
    id_number = c.id_number()
    c.checked("consent", gettext("请阅读并同意个人信息保护说明"))
    if c.errors:
        return None, c.errors
    return EnrolmentData(client_id, name, phone, trade, team, employer, hometown, id_number), {}


# What a worker fills in; a second application on a rejected or departed record replaces it.
APPLICATION_FIELDS = ("name", "trade", "team", "employer", "hometown", "id_number_enc",
                      "id_number_masked")


class Outcome(StrEnum):
    CREATED = "created"
    REPLAYED = "replayed"  # same client_id, same content: answer as the first time
    ALREADY_MEMBER = "already_member"  # same phone in the same project, another form
    ELSEWHERE = "elsewhere"  # the phone is pending or active in another project


@dataclass
class EnrolmentResult:
    outcome: Outcome
    member: Member


def same_submission(member: Member, project: UnionNode, data: EnrolmentData,
                    keyring: Keyring, enrolled_by: Officer | None) -> bool:
    """Whether a form with the member's client_id is the very form that made the member:
    the same project, the same answers, sent by the same officer (or by nobody)."""
    id_number = keyring.decrypt(member.id_number_enc) if member.id_number_enc else ""
    return (member.project_id == project.id  # type: ignore[attr-defined]
            and member.phone == data.phone and member.name == data.name
            and member.trade == data.trade
            and member.team_id == (data.team.id if data.team else None)  # type: ignore[attr-defined]
            and member.employer == data.employer and member.hometown == data.hometown
            and id_number == data.id_number
            and member.enrolled_by_id == (  # type: ignore[attr-defined]
                enrolled_by.id if enrolled_by else None))


def reused_form_message() -> str:
    return gettext("这份表单已经提交过了，不能再用来登记。请刷新页面，重新填写。")


async def enrol(project: UnionNode, data: EnrolmentData, keyring: Keyring, *,
                enrolled_by: Officer | None = None, proof: str = "") -> EnrolmentResult:
    """Enrol once per client_id and once per phone in a project.

    The common case (a new worker) is one INSERT: the unique constraints on client_id and
    (project, phone), not a prior SELECT, decide replays and repeats, and the lookups run
    only when one of them fires. Where the project approves by itself the row is inserted
    already approved (number and liaison chosen just before), so no auto-approved member
    ever exists without them, and no transaction is held open across round trips: on
    SQLite, whose one connection serialises transactions, that is what bounds a
    mass-enrolment day's throughput. Call it outside a transaction: on PostgreSQL the
    unique violation would abort an enclosing one.

    A client_id is an idempotency key, not a credential: a form that reuses one with other
    answers (or another project, or another officer) is refused (DomainError 422), and
    REPLAYED says only that the content is the same; who may then be signed in is
    `join`'s decision. `proof` is kept with a new member for `join` to recognise the device.
    """
    fields: dict[str, Any] = {
        "name": data.name, "trade": data.trade, "team": data.team, "employer": data.employer,
        "hometown": data.hometown,
        "id_number_enc": keyring.encrypt(data.id_number) if data.id_number else None,
        "id_number_masked": mask_id_number(data.id_number),
    }
    if project.auto_approve:
        fields.update(await membership.numbering(project.id, data.team.id if data.team else None))
    try:
        member = await Member.create(client_id=data.client_id, project=project,
                                     phone=data.phone, enrolled_by=enrolled_by,
                                     enrol_proof=proof, **fields)
        return EnrolmentResult(Outcome.CREATED, member)
    except IntegrityError:
        pass
    existing = await Member.get_or_none(client_id=data.client_id)
    if existing is not None:
        if not same_submission(existing, project, data, keyring, enrolled_by):
            raise DomainError(reused_form_message(), status=422)
        return EnrolmentResult(Outcome.REPLAYED, existing)
    # The phone is pending or active somewhere (the partial index on a live phone): here,
    # or in another project, which only the member themself can leave for this one.
    live = await Member.filter(phone=data.phone, status__in=list(LIVE)).first()
    if live is not None:
        here = live.project_id == project.id  # type: ignore[attr-defined]
        return EnrolmentResult(Outcome.ALREADY_MEMBER if here else Outcome.ELSEWHERE, live)
    same_phone = await Member.get_or_none(project=project, phone=data.phone)
    if same_phone is None:
        raise RuntimeError("enrolment conflicted with a row that is gone")
    if same_phone.member_no is not None:
        # Left, or turned away after moving here: the record holds a member's number and
        # requests, which a form with the phone number alone must not open to its sender.
        return EnrolmentResult(Outcome.ALREADY_MEMBER, same_phone)
    # Turned away (or withdrew) before ever being a member: nothing on the record but the
    # application, so the new form is a fresh application on the same record.
    for key in APPLICATION_FIELDS:
        setattr(same_phone, key, fields[key])
    same_phone.client_id = data.client_id
    same_phone.status = MemberStatus.PENDING
    same_phone.reject_reason = ""
    same_phone.enrolled_by = enrolled_by
    same_phone.enrol_proof = proof
    try:
        await same_phone.save()
    except IntegrityError:
        # Meanwhile the phone joined another project (or this form's client_id did).
        return await _settled_elsewhere(project, data)
    if project.auto_approve:
        await membership.approve(same_phone, None)
    return EnrolmentResult(Outcome.CREATED, same_phone)


async def _settled_elsewhere(project: UnionNode, data: EnrolmentData) -> EnrolmentResult:
    live = await Member.filter(phone=data.phone, status__in=list(LIVE)).first()
    if live is None:
        raise DomainError(reused_form_message(), status=422)
    here = live.project_id == project.id  # type: ignore[attr-defined]
    return EnrolmentResult(Outcome.ALREADY_MEMBER if here else Outcome.ELSEWHERE, live)


def already_member_message() -> str:
    return gettext("这个手机号已经在本项目登记过了。如果换了手机，请找工会干部要换机码。")


def member_elsewhere_message() -> str:
    return gettext("这个手机号是别的项目的会员。请工友用自己的手机扫本项目的入会二维码，"
                   "会籍就转过来，会员号不变。")


async def enrol_assisted(officer: Officer, data: EnrolmentData, keyring: Keyring, *,
                         ip: str) -> Member:
    """A cadre or chair signs a worker up on their own phone (mass enrolment days, offline
    through the outbox). The officer saw the worker in person, so the enrolment needs no
    second look: it is approved at once, and the officer's action is on the record. A phone
    already in the project is refused by name: the officer may see the project's members."""
    result = await enrol(officer.union, data, keyring, enrolled_by=officer)
    if result.outcome == Outcome.ALREADY_MEMBER:
        raise DomainError(already_member_message(), status=409, field="phone")
    if result.outcome == Outcome.ELSEWHERE:
        # Not named (the member is another project's to see); only the worker can move.
        raise DomainError(member_elsewhere_message(), status=409, field="phone")
    if result.outcome == Outcome.CREATED:
        if result.member.status == MemberStatus.PENDING:
            await membership.approve(result.member, officer)
        await audit.record(officer, "member.enrol_assisted", result.member, ip=ip)
    return result.member


def device_proof(keyring: Keyring, session_token: str) -> str:
    """What ties a join form to the session that sent it: a keyed hash of that session's
    CSRF token (random, per session, never shown to anybody else)."""
    return keyring.keyed_hash(f"enrol-device:{session_token}") if session_token else ""


async def join(project: UnionNode, data: EnrolmentData, keyring: Keyring, *, ip: str,
               session_member_id: int | None, session_token: str) -> Member | None:
    """The public join form (QR poster): the member to sign this session in as, or None.

    Counted per IP and per phone before anything is looked up (TooManyAttempts, 429).

    Sent from the member's own signed-in phone with their own phone number, the form
    moves them here (or back, after leaving), keeping their number: `moves.move_here`.

    Otherwise the answer never depends on whether the phone already belongs to a member,
    here or in another project: such a form becomes a `MemberClaim` for the member's
    cadres to look into (the real owner on a new handset is then given a re-bind code, and
    moves from there), answered as a new application is, and signs nobody in.

    A replayed client_id (the same form again) signs in only the device that sent it:
    the outbox resends a form whose answer was lost, so the session may not hold the
    member yet, but it is still the session that sent the form, and its CSRF token is the
    one whose hash the member keeps (`device_proof`). Knowing a client_id and the answers
    on the form is therefore not enough; anybody else is refused (422) and sees nothing.
    """
    rules = limits.current()
    exceeded = await limits.hit_all((rules.join_ip, ip), (rules.join_phone, data.phone))
    if exceeded is not None:
        raise TooManyAttempts(limits.wait_message(exceeded))
    if session_member_id is not None:
        mine = await Member.get_or_none(id=session_member_id)
        if (mine is not None and mine.phone == data.phone
                and not await Member.exists(client_id=data.client_id)):
            # The member's own signed-in phone: the one proof that lets a join form move a
            # member here from another project (or bring them back after leaving). A form
            # that made a member is judged as a replay below, like any other.
            return await moves.move_here(mine.id, project, data, keyring)
    proof = device_proof(keyring, session_token)
    result = await enrol(project, data, keyring, proof=proof)
    member = result.member
    if result.outcome == Outcome.CREATED:
        return member
    if result.outcome == Outcome.REPLAYED:
        if session_member_id == member.id or (
                proof and hmac.compare_digest(member.enrol_proof, proof)):
            return member
        raise DomainError(reused_form_message(), status=422)
    if session_member_id == member.id:
        return member  # the member themselves, sending the form again
    # Anybody else with the number: a claim for the member's own officers to look into
    # (the worker on a new phone gets a re-bind code from them, then moves), answered like
    # a new application so the form does not tell a stranger where the number belongs.
    await _claim(member, data, ip,
                 to_project=project if result.outcome == Outcome.ELSEWHERE else None)
    return None


async def _claim(member: Member, data: EnrolmentData, ip: str, *,
                 to_project: UnionNode | None = None) -> None:
    try:
        await MemberClaim.create(client_id=data.client_id, member=member, name=data.name,
                                 trade=data.trade, employer=data.employer,
                                 hometown=data.hometown, ip=ip[:45], project=to_project)
    except IntegrityError:
        pass  # the same claim sent again (client_id is unique): it is already waiting
