"""Wage cases (欠薪): the amounts on the request form, the milestones an officer records
(核实 → 承诺支付日期 → 部分支付 → 已支付), members' own claims in a collective case, and the
list a labour inspector (劳动监察) asks for.

Amounts are whole yuan (integers): what workers and inspectors count in, with nothing to
round. A case's `amount_owed` and `workers_affected` are its totals; members' claims detail
them, and adding one raises the totals to at least the claims' sum and count. The figures
(summary rows kept by the database's triggers, migration 0018) sum them per project and
month, up the union tree.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import xlsxwriter
from tortoise.exceptions import IntegrityError

from server.crypto import Keyring
from server.db import transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.labels import CHINA
from server.models import (
    Category,
    EventKind,
    Member,
    MemberStatus,
    Officer,
    ServiceRequest,
    WageClaim,
    WageStage,
)
from server.models.requests import OPEN_STATUSES
from server.services.offload import run_heavy
from server.validation import Cleaner

# A case's amount: a site's collective arrears can run to millions; more than ten million
# yuan on one form is a typing slip. One worker's own claim: a year's pay many times over.
MAX_AMOUNT = 10_000_000
MAX_CLAIM = 1_000_000
MAX_WORKERS = 10_000
MAX_EMPLOYER = 100
MAX_PERIOD = 50
# Officer actions that record a milestone, and the stage each one reaches.
MILESTONES: dict[str, WageStage] = {
    "wage_verify": WageStage.VERIFIED,
    "wage_promise": WageStage.PROMISED,
    "wage_partial": WageStage.PARTIAL,
    "wage_paid": WageStage.PAID,
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_AMOUNT_NOISE = re.compile(r"[\s,，元圆]")


@dataclass(frozen=True)
class WageFacts:
    amount_owed: int | None
    workers_affected: int | None
    employer_owing: str
    wage_period: str


NO_FACTS = WageFacts(None, None, "", "")


def clean_amount(c: Cleaner, name: str, label: str, *, required: bool,
                 maximum: int = MAX_AMOUNT) -> int | None:
    """Whole yuan from a form field: full-width digits, "12,000" and a trailing 元 are
    fine; negatives, fractions and absurd sums are refused with a message that says why."""
    raw = unicodedata.normalize("NFKC", c.raw(name))
    value = _AMOUNT_NOISE.sub("", raw)
    if not value:
        if required:
            c.errors[name] = gettext("请填写“%(label)s”") % {"label": gettext(label)}
        return None
    if value.startswith("-"):
        c.errors[name] = gettext("“%(label)s”不能是负数") % {"label": gettext(label)}
        return None
    if "." in value and value.replace(".", "", 1).isdigit():
        c.errors[name] = gettext("“%(label)s”请填整数元，不用填角和分") % {
            "label": gettext(label)}
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        c.errors[name] = gettext("“%(label)s”请只填数字（单位：元）") % {"label": gettext(label)}
        return None
    amount = int(value)
    if amount < 1:
        c.errors[name] = gettext("“%(label)s”应大于 0") % {"label": gettext(label)}
        return None
    if amount > maximum:
        c.errors[name] = gettext("“%(label)s”最多 %(max)s 元，请核对") % {
            "label": gettext(label), "max": f"{maximum:,}"}
        return None
    return amount


def clean_workers(c: Cleaner, name: str = "workers_affected") -> int | None:
    raw = _AMOUNT_NOISE.sub("", unicodedata.normalize("NFKC", c.raw(name))).removesuffix("人")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or not 1 <= int(raw) <= MAX_WORKERS:
        c.errors[name] = gettext("涉及人数请填 1 到 %(max)d 之间的整数") % {"max": MAX_WORKERS}
        return None
    return int(raw)


def clean_facts(c: Cleaner, category: str) -> WageFacts:
    """The wage fields of the request form (all optional: a worker who does not know the
    exact sum files anyway, and the union verifies it). Read only for a wage request."""
    if category != Category.WAGES:
        return NO_FACTS
    amount = clean_amount(c, "amount_owed", N_("被拖欠的工资"), required=False)
    workers = clean_workers(c)
    employer = c.text("employer_owing", required=False, max_length=MAX_EMPLOYER,
                      label=N_("欠薪的单位"))
    period = c.text("wage_period", required=False, max_length=MAX_PERIOD,
                    label=N_("欠薪的时间段"))
    return WageFacts(amount, workers, employer, period)


def columns(facts: WageFacts) -> dict[str, Any]:
    """The request's columns for `facts` (all None for a request that is not a wage case)."""
    if facts == NO_FACTS:
        return {"amount_owed": None, "workers_affected": None, "employer_owing": None,
                "wage_period": None}
    return {"amount_owed": facts.amount_owed, "workers_affected": facts.workers_affected,
            "employer_owing": facts.employer_owing or None,
            "wage_period": facts.wage_period or None}


def facts_key(facts: WageFacts) -> tuple[str, ...]:
    """For comparing a replay with what was stored (see requests._same_content)."""
    cols = columns(facts)
    return tuple(str(cols[k]) for k in ("amount_owed", "workers_affected", "employer_owing",
                                        "wage_period"))


FACT_COLUMNS = ("amount_owed", "workers_affected", "employer_owing", "wage_period")


# --- milestones -------------------------------------------------------------------------------

@dataclass(frozen=True)
class MilestoneInput:
    amount: int | None = None
    promised_on: date | None = None


def clean_milestone(action: str, data: Mapping[str, object]) -> tuple[MilestoneInput, str]:
    """The amount (and for 承诺支付日期 the date) of a milestone form, and the error ("")."""
    c = Cleaner(data)
    required = action == "wage_partial"
    amount = clean_amount(c, "amount", N_("金额"), required=required)
    promised: date | None = None
    if action == "wage_promise":
        raw = c.raw("promised_on").strip()
        try:
            promised = date.fromisoformat(raw) if raw else None
        except ValueError:
            promised = None
        if promised is None or not date(2000, 1, 1) <= promised <= date(2999, 12, 31):
            c.errors["promised_on"] = gettext("请选择承诺支付的日期")
            promised = None
    return MilestoneInput(amount, promised), "; ".join(c.errors.values())


def apply_milestone(request: ServiceRequest, action: str, given: MilestoneInput,
                    updates: list[str]) -> dict[str, object]:
    """Move the case's amounts for a milestone (inside the officer action's transaction,
    on the freshly locked row) and return the event's detail. Refuses amounts that do not
    add up: more recovered than owed is a typing slip, not a windfall."""
    owed = request.amount_owed
    recovered = request.amount_recovered or 0
    detail: dict[str, object] = {}
    if action == "wage_verify":
        if given.amount is not None:
            request.amount_owed = owed = given.amount
            updates.append("amount_owed")
        if owed is None:
            raise DomainError(gettext("请填写核实后的欠薪金额"), field="amount")
        if recovered > owed:
            raise DomainError(gettext("核实的金额少于已追回的金额，请核对"), field="amount")
        detail = {"amount": owed}
    elif action == "wage_promise":
        request.wage_promised_on = given.promised_on
        updates.append("wage_promised_on")
        detail = {"date": given.promised_on.isoformat() if given.promised_on else ""}
        if given.amount is not None:
            detail["amount"] = given.amount
    elif action in ("wage_partial", "wage_paid"):
        paid = given.amount
        if paid is None:  # 已支付 without a sum: whatever was still owed is now paid
            paid = max(0, (owed or 0) - recovered)
        recovered += paid
        if owed is not None and recovered > owed:
            raise DomainError(gettext("已追回的金额不能超过欠薪金额（还欠 %(left)s 元）") % {
                "left": f"{max(0, owed - (request.amount_recovered or 0)):,}"}, field="amount")
        if owed is None and action == "wage_paid":
            request.amount_owed = recovered
            updates.append("amount_owed")
        request.amount_recovered = recovered
        updates.append("amount_recovered")
        detail = {"amount": paid, "recovered": recovered}
    request.wage_stage = MILESTONES[action]
    updates.append("wage_stage")
    return detail


# --- claims in a collective case ----------------------------------------------------------------

def _not_a_case() -> DomainError:
    return DomainError(gettext("这条诉求不是还在办理的欠薪，不能登记"), status=409)


def open_case(request: ServiceRequest) -> bool:
    return request.category == Category.WAGES and request.status in OPEN_STATUSES


async def find_member(project_id: int, key: str) -> Member | None:
    """An active member of the project by member number or all 11 digits of their phone
    (no partial phone matches: see docs/security.md)."""
    key = unicodedata.normalize("NFKC", key).strip().replace(" ", "")
    if not key:
        return None
    query = Member.filter(project_id=project_id, status=MemberStatus.ACTIVE)
    if len(key) == 11 and key.isdigit():
        return await query.filter(phone=key).first()
    return await query.filter(member_no=key).first()


@dataclass(frozen=True)
class ClaimInput:
    amount: int
    consent: bool
    client_id: uuid.UUID | None = None


def clean_claim(data: Mapping[str, object]) -> tuple[ClaimInput | None, dict[str, str]]:
    c = Cleaner(data)
    amount = clean_amount(c, "amount", N_("本人被拖欠的工资"), required=True,
                          maximum=MAX_CLAIM)
    consent = c.raw("consent").strip().lower() in {"on", "1", "yes", "true"}
    client_id = c.client_id() if c.raw("client_id").strip() else None
    if c.errors or amount is None:
        return None, c.errors
    return ClaimInput(amount, consent, client_id), {}


async def add_claim(request: ServiceRequest, member: Member, given: ClaimInput, *,
                    officer: Officer | None = None) -> WageClaim:
    """Add (or, for the same member, update) a member's claim, raise the case's totals to
    cover the claims, and put it on the timeline (internal: the filer does not learn who
    else joined). Idempotent by the claim's client_id and by (case, member)."""
    from server.services import lifecycle

    if not open_case(request):
        raise _not_a_case()
    if member.project_id != request.project_id:  # type: ignore[attr-defined]
        raise DomainError(gettext("只能登记本项目的会员"), field="member")
    if given.client_id is not None:
        done = await WageClaim.get_or_none(client_id=given.client_id)
        if done is not None:
            if done.member_id != member.id or done.request_id != request.id:  # type: ignore[attr-defined]
                raise invalid_form_key()
            return done
    now = datetime.now(UTC)
    try:
        async with transaction() as conn:
            fresh = await ServiceRequest.filter(id=request.id).select_for_update().using_db(
                conn).get()
            if not open_case(fresh):
                raise _not_a_case()
            claim = await WageClaim.filter(request_id=fresh.id, member_id=member.id).using_db(
                conn).first()
            if claim is None:
                claim = await WageClaim.create(request_id=fresh.id, member_id=member.id,
                                               amount=given.amount, consent=given.consent,
                                               added_by=officer, client_id=given.client_id,
                                               using_db=conn)
            else:
                claim.amount, claim.consent = given.amount, given.consent
                await claim.save(update_fields=["amount", "consent", "updated_at"],
                                 using_db=conn)
            amounts: list[int] = await WageClaim.filter(  # type: ignore[assignment]
                request_id=fresh.id).using_db(conn).values_list("amount", flat=True)
            total, count = sum(amounts), len(amounts)
            updates: dict[str, int] = {}
            if total > (fresh.amount_owed or 0):
                updates["amount_owed"] = total
            if count > (fresh.workers_affected or 1):
                updates["workers_affected"] = count
            if updates:
                await ServiceRequest.filter(id=fresh.id).using_db(conn).update(**updates)
            # Not `by_worker`: that would mark the filer's unread answers as seen, and the
            # worker who joined is not the filer.
            await lifecycle.record_event(
                fresh, EventKind.WAGE_CLAIM, actor=officer, public=False,
                detail={"amount": given.amount, "claims": count,
                        "total": max(total, fresh.amount_owed or 0),
                        "joined": officer is None},
                now=now, conn=conn)
    except IntegrityError:
        # Two taps at once for the same member: the first one's claim stands.
        found = await WageClaim.get_or_none(request_id=request.id, member_id=member.id)
        if found is None:
            raise
        return found
    return claim


@dataclass(frozen=True)
class ClaimRow:
    id: int
    name: str
    member_no: str
    amount: int
    consent: bool


async def claims_of(request: ServiceRequest) -> list[ClaimRow]:
    rows = await WageClaim.filter(request_id=request.id).order_by("id").select_related("member")
    return [ClaimRow(c.id, c.member.name, c.member.member_no or "", c.amount, c.consent)
            for c in rows]


# --- the labour inspector's list ------------------------------------------------------------------

INSPECTOR_HEADERS = (N_("姓名"), N_("身份证号"), N_("手机号"), N_("欠薪单位"),
                     N_("项目及地址"), N_("欠薪期间"), N_("欠薪金额（元）"))


async def inspector_rows(request: ServiceRequest, keyring: Keyring) -> list[list[object]]:
    """The members of the case who agreed to be named to the labour inspector, with their
    ID numbers decrypted: the one place they leave in clear (the route audits it)."""
    project = await request.project
    where = project.name + (f" · {project.office_address}" if project.office_address else "")
    claims = await WageClaim.filter(request_id=request.id, consent=True).order_by(
        "id").select_related("member")
    rows: list[list[object]] = []
    for claim in claims:
        m = claim.member
        id_number = (keyring.decrypt(m.id_number_enc) or "") if m.id_number_enc else ""
        rows.append([m.name, id_number, m.phone, request.employer_owing or m.employer or "",
                     where, request.wage_period or "", claim.amount])
    return rows


def _inspector_book(title: str, headers: list[str], rows: list[list[object]]) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    sheet = book.add_worksheet(gettext("欠薪名单"))
    sheet.write_string(0, 0, title, bold)
    for col, header in enumerate(headers):
        sheet.write_string(2, col, header, bold)
    for r, row in enumerate(rows, start=3):
        for col, value in enumerate(row):
            if isinstance(value, int):
                sheet.write_number(r, col, value)
            else:  # names and employers as typed: text, never a formula
                sheet.write_string(r, col, str(value))
    sheet.set_column(0, 0, 10)
    sheet.set_column(1, 2, 20)
    sheet.set_column(3, 4, 28)
    sheet.set_column(5, 6, 14)
    book.close()
    return buffer.getvalue()


async def inspector_workbook(request: ServiceRequest, keyring: Keyring) -> tuple[bytes, int]:
    rows = await inspector_rows(request, keyring)
    made = datetime.now(UTC).astimezone(CHINA).strftime("%Y-%m-%d")
    title = gettext("欠薪诉求 #%(id)d · 同意提供给劳动监察的工友 · %(date)s") % {
        "id": request.id, "date": made}
    body = await run_heavy(_inspector_book, title, [gettext(h) for h in INSPECTOR_HEADERS],
                           rows)
    return body, len(rows)
