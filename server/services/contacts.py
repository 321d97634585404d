"""Whom a worker can call: their liaison cadre, the cadre handling a request, the project's
union chair, and the union office. Officers' work phones are there to be called by the
workers they serve; a worker's own number goes the other way only through
`server.privacy.may_call_filer` (and the audit log)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.errors import DomainError
from server.i18n import N_, gettext
from server.models import Member, MemberStatus, Officer, Role, ServiceRequest, UnionNode
from server.validation import Cleaner

MAX_OFFICE_ADDRESS = 120
# A landline with its area code (029-8888 8888), an extension, or a mobile number.
OFFICE_PHONE_RE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    what: str  # why to call them ("你的联络干部"), already translated


@dataclass(frozen=True)
class Office:
    address: str
    phone: str

    def __bool__(self) -> bool:
        return bool(self.address or self.phone)


def office_of(project: UnionNode) -> Office:
    return Office(project.office_address, project.office_phone)


async def _chair(project_id: int) -> Officer | None:
    return await Officer.filter(union_id=project_id, role=Role.CHAIR,
                                active=True).order_by("id").first()


async def _active(officer_id: int | None) -> Officer | None:
    if officer_id is None:
        return None
    return await Officer.get_or_none(id=officer_id, active=True)


def _dedupe(contacts: list[Contact]) -> list[Contact]:
    seen: set[str] = set()
    out = []
    for contact in contacts:
        if contact.phone not in seen:
            seen.add(contact.phone)
            out.append(contact)
    return out


async def for_member(member: Member) -> list[Contact]:
    """Whom a worker calls about their membership: an active member their liaison and the
    chair; an applicant still waiting whoever signed them up and the chair; one turned down
    whoever decided and the chair."""
    project_id: int = member.project_id  # type: ignore[attr-defined]
    contacts: list[Contact] = []
    if member.status == MemberStatus.ACTIVE:
        liaison = await _active(member.liaison_id)  # type: ignore[attr-defined]
        if liaison is not None:
            contacts.append(Contact(liaison.name, liaison.phone, gettext("你的联络干部")))
    elif member.status == MemberStatus.PENDING:
        helper = await _active(member.enrolled_by_id)  # type: ignore[attr-defined]
        if helper is not None:
            contacts.append(Contact(helper.name, helper.phone, gettext("给你登记的工会干部")))
    elif member.status == MemberStatus.REJECTED:
        reviewer = await _active(member.reviewed_by_id)  # type: ignore[attr-defined]
        if reviewer is not None and reviewer.role in {Role.CADRE, Role.CHAIR}:
            contacts.append(Contact(reviewer.name, reviewer.phone,
                                    gettext("审核你入会申请的工会干部")))
    chair = await _chair(project_id)
    if chair is not None:
        contacts.append(Contact(chair.name, chair.phone, gettext("工会主席")))
    return _dedupe(contacts)


async def for_request(member: Member, request: ServiceRequest) -> list[Contact]:
    """Whom a worker calls about one request: the cadre handling it (their liaison when
    nobody holds it), and the chair."""
    contacts: list[Contact] = []
    handler = await _active(request.assignee_id)  # type: ignore[attr-defined]
    if handler is not None:
        contacts.append(Contact(handler.name, handler.phone, gettext("负责这条诉求的干部")))
    else:
        liaison = await _active(member.liaison_id)  # type: ignore[attr-defined]
        if liaison is not None:
            contacts.append(Contact(liaison.name, liaison.phone, gettext("你的联络干部")))
    chair = await _chair(request.project_id)  # type: ignore[attr-defined]
    if chair is not None:
        contacts.append(Contact(chair.name, chair.phone, gettext("工会主席")))
    return _dedupe(contacts)


def clean_office(data: dict[str, object]) -> Office:
    """The chair's office form; raises DomainError naming the field to fix."""
    c = Cleaner(data)
    address = c.text("office_address", required=False, max_length=MAX_OFFICE_ADDRESS,
                     label=N_("工会办公室地址"))
    phone = c.text("office_phone", required=False, max_length=20, label=N_("办公室电话"),
                   form="NFKC")
    if phone and "office_phone" not in c.errors and not OFFICE_PHONE_RE.match(phone):
        c.errors["office_phone"] = gettext("电话号码只能有数字、空格和“-”，例如 029-88886666")
    if c.errors:
        field, message = next(iter(c.errors.items()))
        raise DomainError(message, field=field)
    return Office(address, phone)


async def save_office(project: UnionNode, office: Office) -> None:
    # By id: `project` may be a signed-in officer's shared snapshot, never changed in place.
    await UnionNode.filter(id=project.id).update(office_address=office.address,
                                                 office_phone=office.phone)
