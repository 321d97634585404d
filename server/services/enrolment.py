"""Joining the union from a QR invite: checking the form and creating the member exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from tortoise.exceptions import IntegrityError

from server.crypto import Keyring
from server.i18n import N_, gettext
from server.models import Member, MemberStatus, Officer, Team, UnionNode
from server.services import membership
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
    REPLAYED = "replayed"  # same client_id again: answer as the first time
    ALREADY_MEMBER = "already_member"  # same phone in the same project, another form


@dataclass
class EnrolmentResult:
    outcome: Outcome
    member: Member


async def enrol(project: UnionNode, data: EnrolmentData, keyring: Keyring, *,
                enrolled_by: Officer | None = None) -> EnrolmentResult:
    """Enrol once per client_id and once per phone in a project.

    The common case (a new worker) is one INSERT: the unique constraints on client_id and
    (project, phone), not a prior SELECT, decide replays and repeats, and the lookups run
    only when one of them fires. Where the project approves by itself the row is inserted
    already approved (number and liaison chosen just before), so no auto-approved member
    ever exists without them, and no transaction is held open across round trips: on
    SQLite, whose one connection serialises transactions, that is what bounds a
    mass-enrolment day's throughput. Call it outside a transaction: on PostgreSQL the
    unique violation would abort an enclosing one.
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
                                     phone=data.phone, enrolled_by=enrolled_by, **fields)
        return EnrolmentResult(Outcome.CREATED, member)
    except IntegrityError:
        pass
    existing = await Member.get_or_none(client_id=data.client_id)
    if existing is not None:
        return EnrolmentResult(Outcome.REPLAYED, existing)
    same_phone = await Member.get_or_none(project=project, phone=data.phone)
    if same_phone is None:
        raise RuntimeError("enrolment conflicted with a row that is gone")
    if same_phone.status in {MemberStatus.PENDING, MemberStatus.ACTIVE}:
        return EnrolmentResult(Outcome.ALREADY_MEMBER, same_phone)
    # Rejected or left before: the new form is a fresh application on the same record.
    for key in APPLICATION_FIELDS:
        setattr(same_phone, key, fields[key])
    same_phone.client_id = data.client_id
    same_phone.status = MemberStatus.PENDING
    same_phone.reject_reason = ""
    same_phone.enrolled_by = enrolled_by
    await same_phone.save()
    if project.auto_approve:
        await membership.approve(same_phone, None)
    return EnrolmentResult(Outcome.CREATED, same_phone)


def already_member_message() -> str:
    return gettext("这个手机号已经在本项目登记过了。如果换了手机，请找工会干部要换机码。")
