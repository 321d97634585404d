"""Partners (外部协办): referral of a request to an organisation outside the union, the
worker's consent to be named to it, the partner's replies and the outcome it records.

A partner reads only the requests referred to it (server.access.request_scope), and the
worker's identity only while a referral to it carries consent (server.privacy). Every event
goes through the one writer (server.services.lifecycle.record_event); every officer's and
partner's action is audited by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from server.db import transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.models import (
    Anonymity,
    Consent,
    EventKind,
    InboxItem,
    Member,
    Officer,
    PartnerKind,
    PartnerProfile,
    Referral,
    ReferralOutcome,
    RequestEvent,
    Role,
    ServiceRequest,
    UnionNode,
)
from server.models.partners import IDENTITY_CONSENTS
from server.models.requests import OPEN_STATUSES
from server.services import lifecycle
from server.validation import Cleaner

KIND_LABELS: dict[str, str] = {
    PartnerKind.LEGAL_AID: N_("法律援助中心"), PartnerKind.HOTLINE: N_("12351 职工服务热线"),
    PartnerKind.MEDIATION: N_("三师一室 调解"), PartnerKind.COUNSELLING: N_("心理咨询"),
    PartnerKind.OTHER: N_("其他协办单位"),
}
OUTCOME_LABELS: dict[str, str] = {
    ReferralOutcome.MEDIATED: N_("调解成功"), ReferralOutcome.ARBITRATION: N_("仲裁"),
    ReferralOutcome.COURT: N_("诉讼"), ReferralOutcome.WITHDRAWN: N_("撤回"),
}
CONSENT_LABELS: dict[str, str] = {
    Consent.ASKED: N_("等工友在手机上答复，答复前不显示身份"),
    Consent.APP: N_("工友在手机上同意告知身份"),
    Consent.VERBAL: N_("工友口头同意告知身份（干部记录）"),
    Consent.REFUSED: N_("工友不同意告知身份"),
    Consent.NONE: N_("不告知身份"),
}
# What the referring officer may choose; the worker's own answers come from the app.
OFFICER_CONSENTS = {"ask": Consent.ASKED, "verbal": Consent.VERBAL, "none": Consent.NONE}
# Who may refer a request in their scope to a partner: the union's caseworkers.
REFERRING_ROLES = frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE})
MAX_ORGANISATION = 60
MAX_NOTE = lifecycle.MAX_NOTE
# The largest amount recovered one referral may record (yuan): a site's whole wage bill
# is below it; anything larger is a typing error.
MAX_AMOUNT = 100_000_000


# --- partner accounts ---------------------------------------------------------------------

def clean_profile(data: Mapping[str, object]) -> tuple[str, PartnerKind]:
    """The organisation of a new partner account (web form or command line)."""
    c = Cleaner(data)
    organisation = c.text("organisation", required=True, max_length=MAX_ORGANISATION,
                          label=N_("协办单位名称"))
    kind = c.choice("partner_kind", {str(k): k for k in PartnerKind}, required=True,
                    label=N_("协办单位类别"))
    if c.errors:
        name, message = next(iter(c.errors.items()))
        raise DomainError(message, field=name)
    return organisation, PartnerKind(kind)


async def save_profile(officer: Officer, organisation: str, kind: PartnerKind) -> None:
    """Called in the transaction that made the account."""
    await PartnerProfile.create(officer=officer, organisation=organisation, kind=kind)


async def organisation_of(officer_id: int) -> str:
    profile = await PartnerProfile.get_or_none(officer_id=officer_id)
    return profile.organisation if profile else ""


def ancestor_ids(node: UnionNode) -> list[int]:
    """The node and every node above it (from the materialised path "/1/4/9/")."""
    return [int(part) for part in node.path.strip("/").split("/") if part] or [node.id]


@dataclass(frozen=True)
class PartnerChoice:
    id: int
    name: str
    organisation: str
    kind: str
    union: str


async def reachable(project: UnionNode) -> list[PartnerChoice]:
    """Active partners a request of `project` may go to: attached at the project or any
    node above it."""
    rows = await Officer.filter(role=Role.PARTNER, active=True,
                                union_id__in=ancestor_ids(project)).select_related(
        "union", "partner_profile").order_by("union__path", "name")
    choices = []
    for officer in rows:
        profile = getattr(officer, "partner_profile", None)
        choices.append(PartnerChoice(
            officer.id, officer.name, profile.organisation if profile else officer.name,
            str(profile.kind) if profile else str(PartnerKind.OTHER), officer.union.name))
    return choices


# --- referring ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NewReferral:
    client_id: uuid.UUID
    partner_id: int
    consent: Consent
    note: str


def clean_referral(data: Mapping[str, object]) -> NewReferral:
    c = Cleaner(data)
    client_id = c.client_id()
    partner = c.raw("partner").strip()
    consent = c.choice("consent", OFFICER_CONSENTS, required=True, label=N_("是否告知身份"))
    note = c.text("note", required=False, max_length=MAX_NOTE, label=N_("说明"),
                  multiline=True)
    if not partner.isascii() or not partner.isdigit() or len(partner) > 9:
        c.errors["partner"] = gettext("请选择协办单位")
    if c.errors:
        name, message = next(iter(c.errors.items()))
        raise DomainError(message, field=name)
    return NewReferral(client_id, int(partner), OFFICER_CONSENTS[consent], note)


def may_refer(officer: Officer, request: ServiceRequest) -> bool:
    """Whether `officer` (who has `request` in scope) may refer it to a partner now."""
    return officer.role in REFERRING_ROLES and request.status in OPEN_STATUSES


async def refer(officer: Officer, request: ServiceRequest,
                new: NewReferral) -> tuple[Referral, bool]:
    """Refer `request` to a partner once per client_id; True when newly made. At most one
    open referral per request and partner (a UNIQUE index; a second is refused, 409)."""
    done = await Referral.get_or_none(client_id=new.client_id)
    if done is not None:
        return _replay(done, officer, request, new), False
    if not may_refer(officer, request):
        raise DomainError(gettext("这条诉求现在不能转协办单位"), status=409)
    project = await UnionNode.get(id=request.project_id)  # type: ignore[attr-defined]
    partner = await Officer.get_or_none(id=new.partner_id, role=Role.PARTNER, active=True,
                                        union_id__in=ancestor_ids(project))
    if partner is None:
        raise DomainError(gettext("请选择本项目或上级工会的协办单位"), field="partner")
    if new.consent == Consent.VERBAL and request.anonymity == Anonymity.ALL:
        # The union does not know who filed: only the worker can agree, in the app.
        raise DomainError(gettext("完全匿名的诉求只能请工友在手机上同意"), field="consent")
    now = datetime.now(UTC)
    organisation = await organisation_of(partner.id)
    try:
        async with transaction():
            referral = await Referral.create(
                client_id=new.client_id, request_id=request.id, partner=partner,
                created_by=officer, consent=new.consent,
                consent_at=now if new.consent == Consent.VERBAL else None, created_at=now)
            await lifecycle.record_event(
                request, EventKind.PARTNER_REFERRED, actor=officer, note=new.note, now=now,
                detail={"referral": referral.id, "partner": partner.id,
                        "organisation": organisation, "consent": str(new.consent)})
    except IntegrityError as exc:
        again = await Referral.get_or_none(client_id=new.client_id)
        if again is not None:
            return _replay(again, officer, request, new), False
        raise DomainError(gettext("这条诉求已经转给这个协办单位，还没有结果"),
                          status=409) from exc
    return referral, True


def _replay(done: Referral, officer: Officer, request: ServiceRequest,
            new: NewReferral) -> Referral:
    """The same form again answers as the first time; a client_id is not a credential."""
    if (done.request_id != request.id or done.partner_id != new.partner_id  # type: ignore[attr-defined]
            or done.created_by_id != officer.id):  # type: ignore[attr-defined]
        raise invalid_form_key()
    return done


async def referrals_of(request: ServiceRequest) -> list[Referral]:
    return await Referral.filter(request_id=request.id).select_related(
        "partner", "partner__partner_profile", "created_by").order_by("id")


# --- the worker's consent -----------------------------------------------------------------

def worker_may_answer(referral: Referral, agree: bool) -> bool:
    """The worker agrees while asked; they may say no while asked, and take back a yes
    while the referral is open."""
    if not referral.is_open:
        return False
    if agree:
        return referral.consent == Consent.ASKED
    return referral.consent in {Consent.ASKED, Consent.APP, Consent.VERBAL}


async def answer_consent(member: Member, request: ServiceRequest, referral_id: int,
                         agree: bool, client_id: uuid.UUID) -> bool:
    """The worker's answer, from their own request page (the caller checked the request is
    theirs); once per client_id. True when it changed the consent."""
    if await RequestEvent.exists(client_id=client_id):
        return False
    referral = await Referral.get_or_none(id=referral_id, request_id=request.id)
    if referral is None:
        raise DomainError(gettext("找不到这次转办"), status=404)
    target = Consent.APP if agree else Consent.REFUSED
    if referral.consent == target:
        return False
    if not worker_may_answer(referral, agree):
        raise DomainError(gettext("这次转办现在不能更改（可能已经办完），请刷新"), status=409)
    now = datetime.now(UTC)
    async with transaction():
        changed = await Referral.filter(id=referral.id, consent=referral.consent).update(
            consent=target, consent_at=now)
        if not changed:
            raise DomainError(gettext("这次转办刚刚有了变化，请刷新"), status=409)
        try:
            async with transaction():
                await lifecycle.record_event(
                    request, EventKind.CONSENT, by_worker=True, client_id=client_id, now=now,
                    detail={"referral": referral.id, "agree": agree,
                            "organisation": await organisation_of(
                                referral.partner_id)})  # type: ignore[attr-defined]
        except IntegrityError:
            raise DomainError(gettext("已经收到了"), status=409) from None
    return True


async def pending_questions(request: ServiceRequest) -> list[tuple[Referral, str]]:
    """The referrals of the worker's request they can answer, with the organisation."""
    rows = await Referral.filter(request_id=request.id, closed_at__isnull=True).select_related(
        "partner__partner_profile").order_by("id")
    out = []
    for r in rows:
        if worker_may_answer(r, True) or worker_may_answer(r, False):
            profile = getattr(r.partner, "partner_profile", None)
            out.append((r, profile.organisation if profile else r.partner.name))
    return out


# --- the partner's side -------------------------------------------------------------------

def partner_scope(partner: Officer) -> Q:
    """Requests referred to `partner` (open or closed), as a ServiceRequest filter."""
    from tortoise.expressions import Subquery

    return Q(id__in=Subquery(Referral.filter(partner_id=partner.id).values("request_id")))


async def referral_for_partner(partner: Officer, request_id: int) -> Referral:
    """The newest referral of `request_id` to `partner` (the caller checked scope)."""
    found = await Referral.filter(partner_id=partner.id, request_id=request_id).order_by(
        "-id").first()
    if found is None:
        raise DomainError(gettext("找不到这次转办"), status=404)
    return found


async def shares_identity_with(partner: Officer, request_id: int) -> bool:
    """Whether a referral of this request to `partner` carries the worker's consent."""
    return await Referral.exists(partner_id=partner.id, request_id=request_id,
                                 consent__in=list(IDENTITY_CONSENTS))


@dataclass(frozen=True)
class ListRow:
    request_id: int
    category: str
    status: str
    created_at: datetime
    consent: str
    outcome: str | None
    open: bool
    unread: bool = False  # referred and not yet opened by the partner


async def listing(partner: Officer) -> list[ListRow]:
    """The partner's referrals, open ones first, newest first within each (sorted here:
    the databases order NULLs differently)."""
    rows = await Referral.filter(partner_id=partner.id).select_related("request").order_by(
        "-id").limit(500)
    rows.sort(key=lambda r: (not r.is_open, -r.id))
    unread = set(await InboxItem.filter(
        officer_id=partner.id, read_at__isnull=True,
        request_id__in=[r.request.id for r in rows]).values_list("request_id", flat=True))
    return [ListRow(r.request.id, str(r.request.category), str(r.request.status),
                    r.created_at, str(r.consent), str(r.outcome) if r.outcome else None,
                    r.is_open, r.request.id in unread) for r in rows]


async def partner_note(partner: Officer, request: ServiceRequest, note: str,
                       public: bool) -> None:
    """A reply the worker reads (public) or a note for the union only, on an open referral."""
    referral = await referral_for_partner(partner, request.id)
    if not referral.is_open:
        raise DomainError(gettext("这次转办已经办完"), status=409)
    if not note.strip():
        raise DomainError(gettext("请填写说明"), field="note")
    async with transaction():
        await lifecycle.record_event(
            request, EventKind.PARTNER_REPLY if public else EventKind.PARTNER_NOTE,
            actor=partner, public=public, note=note.strip()[:MAX_NOTE],
            detail={"referral": referral.id})


@dataclass(frozen=True)
class NewOutcome:
    outcome: ReferralOutcome
    amount: int | None
    note: str


def clean_outcome(data: Mapping[str, object]) -> NewOutcome:
    c = Cleaner(data)
    outcome = c.choice("outcome", OUTCOME_LABELS, required=True, label=N_("结果"))
    raw = c.text("amount_recovered", required=False, max_length=12, label=N_("追回金额（元）"),
                 form="NFKC").replace(",", "").replace("，", "")
    note = c.text("note", required=False, max_length=MAX_NOTE, label=N_("说明"),
                  multiline=True)
    amount = None
    if raw:
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_AMOUNT:
            c.errors["amount_recovered"] = gettext(
                "追回金额请填整数元，0 到 %(max)d") % {"max": MAX_AMOUNT}
        else:
            amount = int(raw)
    if c.errors:
        name, message = next(iter(c.errors.items()))
        raise DomainError(message, field=name)
    return NewOutcome(ReferralOutcome(outcome), amount, note)


async def record_outcome(partner: Officer, request: ServiceRequest,
                         new: NewOutcome) -> Referral:
    """Close the partner's open referral with its outcome; a timeline event the worker
    reads. Only once: a second outcome for a closed referral is refused (409)."""
    referral = await referral_for_partner(partner, request.id)
    now = datetime.now(UTC)
    async with transaction():
        closed = await Referral.filter(id=referral.id, closed_at__isnull=True).update(
            outcome=new.outcome, amount_recovered=new.amount, outcome_note=new.note,
            closed_at=now, open_key=None)
        if not closed:
            raise DomainError(gettext("这次转办已经记录过结果"), status=409)
        await lifecycle.record_event(
            request, EventKind.PARTNER_OUTCOME, actor=partner, note=new.note, now=now,
            detail={"referral": referral.id, "outcome": str(new.outcome),
                    "amount_recovered": new.amount})
    await referral.refresh_from_db()
    return referral


# --- figures --------------------------------------------------------------------------------

async def counts_by_project(project_ids: list[int]) -> dict[int, dict[str, int]]:
    """Referrals per project: made, open, and closed by outcome (counts only; the page
    applies the small-cell rule for outside readers)."""
    from tortoise.functions import Count

    rows = await Referral.filter(request__project_id__in=project_ids).annotate(
        n=Count("id")).group_by("request__project_id", "outcome").values(
        "request__project_id", "outcome", "n")
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        cell = out.setdefault(int(row["request__project_id"]), {"total": 0, "open": 0})
        n = int(row["n"])
        cell["total"] += n
        key = str(row["outcome"]) if row["outcome"] else "open"
        cell[key] = cell.get(key, 0) + n
    return out


# --- the officer's request page -----------------------------------------------------------

@dataclass(frozen=True)
class Panel:
    """The partner box of an officer's request page."""
    referrals: list[Referral]
    choices: list[PartnerChoice]
    may_refer: bool
    # The union cannot vouch for the worker aloud when it does not know who they are.
    verbal_allowed: bool
    consent_labels: Mapping[str, str] = field(default_factory=lambda: CONSENT_LABELS)
    outcome_labels: Mapping[str, str] = field(default_factory=lambda: OUTCOME_LABELS)
    kind_labels: Mapping[str, str] = field(default_factory=lambda: KIND_LABELS)


async def recovered_for(request: ServiceRequest) -> int:
    """What partners recorded as recovered on this request's referrals, in yuan. Kept apart
    from the wage case's `amount_recovered` (the union's 部分支付 / 已支付 records): the
    same money must not be counted twice; the wage panel shows it as a prompt."""
    amounts = await Referral.filter(request_id=request.id, amount_recovered__gt=0).values_list(
        "amount_recovered", flat=True)
    return sum(int(a) for a in amounts)  # type: ignore[call-overload]


async def panel(officer: Officer, request: ServiceRequest) -> Panel | None:
    """None for readers who neither refer nor see referrals (management, the upper union
    see only the timeline's labels)."""
    if officer.role not in REFERRING_ROLES:
        return None
    allowed = may_refer(officer, request)
    referrals = await referrals_of(request)
    choices: list[PartnerChoice] = []
    if allowed:
        project = await UnionNode.get(id=request.project_id)  # type: ignore[attr-defined]
        # A partner that has the request open already is not offered again.
        busy = {r.partner_id for r in referrals if r.is_open}  # type: ignore[attr-defined]
        choices = [p for p in await reachable(project) if p.id not in busy]
    return Panel(referrals, choices, allowed, request.anonymity != Anonymity.ALL)


@dataclass(frozen=True)
class ProjectFigures:
    """Referrals of one project as a reader may see them: counts only, and outside the
    union under the small-cell rule (a breakdown with its total beside it)."""
    total: int | str
    cells: dict[str, int | str]


async def figures_for(viewer: Officer, project_id: int) -> ProjectFigures:
    from server import privacy

    counts = (await counts_by_project([project_id])).get(project_id, {})
    keys = ["open", *OUTCOME_LABELS]
    cells = {key: counts.get(key, 0) for key in keys}
    total = counts.get("total", 0)
    # Each referral is one worker's request: counted as people, which may only hide more.
    return ProjectFigures(privacy.count_for(viewer, total), privacy.table_for(viewer, cells))
