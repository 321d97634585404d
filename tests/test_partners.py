"""Partners (外部协办, issue 12): accounts under a union node, referral of a request to one,
the worker's consent to be named, the partner's pages, replies and outcome, and the rule
that a partner sees nothing that was not referred to it (404 everywhere else)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.db import transaction
from server.errors import DomainError
from server.models import (
    Anonymity,
    AuditEntry,
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
)
from server.routes import routes as APP_ROUTES
from server.services import handover, officers, partners, push
from server.services.demo import DEMO_PASSWORD
from server.services.officers import add_officer
from tests.conftest import (
    CXG_CHAIR,
    UPPER,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    fresh_phone,
)
from tests.factories import make_member, make_request, member_client, officer_client


async def new_partner(union: str = "cscec1-xibei", organisation: str = "西安市法律援助中心",
                      kind: PartnerKind = PartnerKind.LEGAL_AID) -> Officer:
    return await add_officer(phone=fresh_phone(), name=f"{organisation} 律师", role=Role.PARTNER,
                             union_code=union, password=DEMO_PASSWORD,
                             partner={"organisation": organisation, "partner_kind": kind.value})


async def refer_on_web(app: Any, officer_phone: str, item: ServiceRequest, partner: Officer,
                       consent: str, client_id: str = "", note: str = "请协助") -> httpx.Response:
    async with officer_client(app, officer_phone) as c:
        page = await c.get(f"/officer/requests/{item.id}")
        assert page.status_code == 200
        return await c.post(f"/officer/requests/{item.id}/partner", data={
            "csrf_token": csrf_of(page.text), "partner": str(partner.id), "consent": consent,
            "note": note, "client_id": client_id})


def identity_shown(page: str, member: Member) -> dict[str, bool]:
    return {"name": member.name in page, "phone": member.phone in page,
            "member_no": bool(member.member_no) and str(member.member_no) in page}


# --- what a partner may see ---------------------------------------------------------------

async def test_partner_sees_only_what_was_referred(app: Any) -> None:
    partner = await new_partner()
    member = await make_member(app, name="王有田")
    referred = await make_request(member, text="老板欠了三个月工资")
    other = await make_request(member, text="宿舍漏雨")
    response = await refer_on_web(app, XBL_CHAIR, referred, partner, "none")
    assert response.status_code == 303
    # The partner hears of it (an inbox item, so a push that opens the partner's page).
    assert await InboxItem.filter(officer_id=partner.id).values_list(
        "request_id", "reason", "read_at") == [(referred.id, "referred_to_you", None)]
    assert json.loads(push.request_payload("referred_to_you", referred.id, officer=True))[
        "url"] == f"/partner/requests/{referred.id}"
    async with officer_client(app, partner.phone) as c:
        listing = await c.get("/partner")
        assert listing.status_code == 200
        assert f"/partner/requests/{referred.id}" in listing.text
        assert f"/partner/requests/{other.id}" not in listing.text
        assert listing.text.count('class="badge badge-new"') == 1
        assert 'id="push-optin"' in listing.text
        page = await c.get(f"/partner/requests/{referred.id}")
        assert page.status_code == 200 and "老板欠了三个月工资" in page.text
        listing = await c.get("/partner")
        assert 'class="badge badge-new"' not in listing.text  # opened: read
        # Everything else answers as if it did not exist.
        assert (await c.get(f"/partner/requests/{other.id}")).status_code == 404
        for path in (f"/officer/requests/{referred.id}", f"/officer/requests/{other.id}",
                     "/officer/requests", "/officer/members", f"/officer/members/{member.id}",
                     "/officer/figures", "/officer/inbox", "/officer/notices",
                     "/officer/digest", "/officer/badges", f"/requests/{other.id}/photos/1"):
            r = await c.get(path)
            assert r.status_code in (403, 404), (path, r.status_code)
            assert member.name not in r.text and "宿舍漏雨" not in r.text
        start = await c.get("/officer")
        assert start.status_code == 303 and start.headers["location"] == "/partner"


def _get_paths() -> list[str]:
    from starlette.routing import Route

    out = []
    for route in APP_ROUTES:
        if isinstance(route, Route) and route.methods and "GET" in route.methods:
            out.append(re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
    return list(dict.fromkeys(out))


# A partner's own pages, and pages anybody may open (no one's data on them).
PARTNER_MAY_OPEN = {"/partner", "/partner/requests/{request_id}", "/officer/password",
                    "/officer/login", "/officer", "/", "/healthz", "/manifest.webmanifest",
                    "/sw.js", "/offline", "/outbox", "/push/key", "/push/csrf", "/lang",
                    "/favicon.ico", "/join/{token}", "/static/{path}", "/pwa/{path}",
                    "/sw/{path}"}


async def test_every_officer_page_is_a_404_for_a_partner(app: Any) -> None:
    """Every GET route under /officer (the app's own URL map, so a page added later is
    covered) answers a partner 404, filled with ids the partner could try: a request
    referred to it, its filer, a notice of the project."""
    partner = await new_partner()
    member = await make_member(app)
    item = await make_request(member)
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), partner.id, Consent.VERBAL, ""))
    ids = {"request_id": str(item.id), "member_id": str(member.id), "photo_id": "1",
           "voice_id": "1", "notice_id": "1", "officer_id": str(partner.id),
           "project_id": str(item.project_id), "day": "2026-12-07",  # type: ignore[attr-defined]
           "fmt": "png", "token": "x", "path": "x", "problem_id": "1", "claim_id": "1",
           "reply_id": "1"}
    checked = 0
    async with officer_client(app, partner.phone) as c:
        for path in _get_paths():
            if path in PARTNER_MAY_OPEN or not path.startswith("/officer"):
                continue
            url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
            r = await c.get(url)
            assert r.status_code == 404, (url, r.status_code)
            assert member.name not in r.text
            checked += 1
    assert checked > 20


# --- consent --------------------------------------------------------------------------------

async def test_identity_only_with_consent(app: Any) -> None:
    partner = await new_partner(organisation="12351 职工服务热线", kind=PartnerKind.HOTLINE)
    member = await make_member(app, name="张铁柱")
    item = await make_request(member, text="工地摔伤，老板不给报销")
    # Not asked: anonymised; the officer was warned that the text is shown as written.
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{item.id}")
        assert 'id="partner-referrals"' in page.text and "原话" in page.text
    assert (await refer_on_web(app, XBL_CHAIR, item, partner, "none")).status_code == 303
    async with officer_client(app, partner.phone) as c:
        page = (await c.get(f"/partner/requests/{item.id}")).text
    assert identity_shown(page, member) == {"name": False, "phone": False, "member_no": False}
    assert "工地摔伤" in page and "匿名工友" in page


async def test_worker_consents_in_the_app_and_takes_it_back(app: Any) -> None:
    partner = await new_partner(organisation="三师一室", kind=PartnerKind.MEDIATION)
    member = await make_member(app, name="刘春生")
    item = await make_request(member)
    assert (await refer_on_web(app, XBL_CHAIR, item, partner, "ask")).status_code == 303
    referral = await Referral.get(request_id=item.id)
    assert referral.consent == Consent.ASKED

    async def partner_page() -> str:
        async with officer_client(app, partner.phone) as c:
            return (await c.get(f"/partner/requests/{item.id}")).text

    assert not identity_shown(await partner_page(), member)["name"]
    async with member_client(app, member) as w:
        page = await w.get(f"/requests/{item.id}")
        assert "三师一室" in page.text and 'name="answer" value="yes"' in page.text
        form = {"csrf_token": csrf_of(page.text), "referral": str(referral.id),
                "answer": "yes", "client_id": str(uuid.uuid4())}
        assert (await w.post(f"/requests/{item.id}/consent", data=form)).status_code == 303
        # The same answer again (an outbox retry): one event.
        assert (await w.post(f"/requests/{item.id}/consent", data=form)).status_code == 303
        assert await RequestEvent.filter(request_id=item.id, kind=EventKind.CONSENT).count() == 1
        assert identity_shown(await partner_page(), member) == {
            "name": True, "phone": True, "member_no": True}
        page = await w.get(f"/requests/{item.id}")
        assert "收回" in page.text
        no = await w.post(f"/requests/{item.id}/consent", data={
            "csrf_token": csrf_of(page.text), "referral": str(referral.id), "answer": "no",
            "client_id": str(uuid.uuid4())})
        assert no.status_code == 303
    assert (await Referral.get(id=referral.id)).consent == Consent.REFUSED
    assert identity_shown(await partner_page(), member) == {
        "name": False, "phone": False, "member_no": False}
    # Another worker cannot answer for this request (it is not theirs: 404).
    stranger = await make_member(app)
    async with member_client(app, stranger) as s:
        page = await s.get("/requests/new")
        r = await s.post(f"/requests/{item.id}/consent", data={
            "csrf_token": csrf_of(page.text), "referral": str(referral.id), "answer": "yes"})
        assert r.status_code == 404
    assert (await Referral.get(id=referral.id)).consent == Consent.REFUSED


async def test_verbal_consent_is_recorded_and_audited(app: Any) -> None:
    partner = await new_partner()
    member = await make_member(app, name="赵金锁")
    item = await make_request(member)
    assert (await refer_on_web(app, XBL_CHAIR, item, partner, "verbal")).status_code == 303
    referral = await Referral.get(request_id=item.id)
    assert referral.consent == Consent.VERBAL and referral.consent_at is not None
    entry = await AuditEntry.get(action="request.partner_refer", target_id=item.id)
    assert entry.detail["consent"] == "verbal" and entry.detail["partner"] == partner.id
    async with officer_client(app, partner.phone) as c:
        page = (await c.get(f"/partner/requests/{item.id}")).text
    assert identity_shown(page, member) == {"name": True, "phone": True, "member_no": True}
    assert f'href="tel:{member.phone}"' in page
    # Anonymous to everyone: the union does not know who filed, so cannot vouch aloud.
    hidden = await make_request(member, anonymity=Anonymity.ALL)
    with pytest.raises(DomainError):
        await partners.refer(await Officer.get(phone=XBL_CHAIR), hidden, partners.NewReferral(
            uuid.uuid4(), partner.id, Consent.VERBAL, ""))


# --- referral rules ---------------------------------------------------------------------------

async def test_only_partners_above_the_project_and_only_union_caseworkers(app: Any) -> None:
    elsewhere = await new_partner(union="chuangxingang", organisation="创新港心理咨询室",
                                  kind=PartnerKind.COUNSELLING)
    above = await new_partner(union="shaanxi", organisation="省总工会法律援助")
    item = await make_request(await make_member(app))
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    with pytest.raises(DomainError):
        await partners.refer(chair, item, partners.NewReferral(
            uuid.uuid4(), elsewhere.id, Consent.NONE, ""))
    choices = [p.id for p in await partners.reachable(chair.union)]
    assert above.id in choices and elsewhere.id not in choices
    manager = await Officer.get(phone=XBL_MANAGER).select_related("union")
    with pytest.raises(DomainError):
        await partners.refer(manager, item, partners.NewReferral(
            uuid.uuid4(), above.id, Consent.NONE, ""))
    assert not await Referral.exists(request_id=item.id)


async def test_referral_is_idempotent_and_one_open_per_partner(app: Any) -> None:
    partner = await new_partner()
    item = await make_request(await make_member(app))
    key = str(uuid.uuid4())
    first = await refer_on_web(app, XBL_CHAIR, item, partner, "none", client_id=key)
    again = await refer_on_web(app, XBL_CHAIR, item, partner, "none", client_id=key)
    assert first.status_code == again.status_code == 303
    assert await Referral.filter(request_id=item.id).count() == 1
    assert await RequestEvent.filter(request_id=item.id,
                                     kind=EventKind.PARTNER_REFERRED).count() == 1
    second = await refer_on_web(app, XBL_CHAIR, item, partner, "none")
    assert second.status_code == 409 and "还没有结果" in second.text


async def test_forty_officers_refer_at_once(app: Any) -> None:
    partner = await new_partner()
    item = await make_request(await make_member(app))
    chair = await Officer.get(phone=XBL_CHAIR)
    results = await asyncio.gather(*[partners.refer(chair, item, partners.NewReferral(
        uuid.uuid4(), partner.id, Consent.NONE, "")) for _ in range(40)],
        return_exceptions=True)
    made = [r for r in results if isinstance(r, tuple) and r[1]]
    assert len(made) == 1
    assert all(isinstance(r, DomainError) for r in results if not isinstance(r, tuple))
    assert await Referral.filter(request_id=item.id).count() == 1


# --- the partner's work -------------------------------------------------------------------

async def test_replies_notes_and_outcome(app: Any) -> None:
    partner = await new_partner()
    member = await make_member(app)
    item = await make_request(member)
    await refer_on_web(app, XBL_CHAIR, item, partner, "none", note="工友说老板威胁他")
    async with officer_client(app, partner.phone) as c:
        page = await c.get(f"/partner/requests/{item.id}")
        assert "工友说老板威胁他" in page.text  # the referral's note is for the partner
        token = csrf_of(page.text)
        r = await c.post(f"/partner/requests/{item.id}/reply",
                         data={"csrf_token": token, "note": "我们明天上午给你打电话"})
        assert r.status_code == 303
        r = await c.post(f"/partner/requests/{item.id}/note",
                         data={"csrf_token": token, "note": "需要劳动合同复印件"})
        assert r.status_code == 303
        for amount in ("abc", "-5", "1000000000", "12.5"):
            bad = await c.post(f"/partner/requests/{item.id}/outcome", data={
                "csrf_token": token, "outcome": "mediated", "amount_recovered": amount})
            assert bad.status_code == 422 and "追回金额" in bad.text, amount
        bad = await c.post(f"/partner/requests/{item.id}/outcome", data={
            "csrf_token": token, "outcome": "settled"})
        assert bad.status_code == 422
        ok = await c.post(f"/partner/requests/{item.id}/outcome", data={
            "csrf_token": token, "outcome": "mediated", "amount_recovered": "３２,０００",
            "note": "调解成功，老板同意分两次付清"})
        assert ok.status_code == 303
        again = await c.post(f"/partner/requests/{item.id}/outcome", data={
            "csrf_token": token, "outcome": "court"})
        assert again.status_code == 409
        closed = await c.get(f"/partner/requests/{item.id}")
        assert 'id="outcome-form"' not in closed.text and "32000" in closed.text
    referral = await Referral.get(request_id=item.id)
    assert referral.outcome == "mediated" and referral.amount_recovered == 32000
    assert referral.closed_at is not None and referral.open_key is None
    events = await RequestEvent.filter(request_id=item.id).order_by("id")
    kinds = [e.kind for e in events]
    assert EventKind.PARTNER_OUTCOME in kinds
    assert all(e.actor_id == partner.id for e in events  # type: ignore[attr-defined]
               if e.kind in {EventKind.PARTNER_REPLY, EventKind.PARTNER_NOTE,
                             EventKind.PARTNER_OUTCOME})
    assert await AuditEntry.filter(actor_id=partner.id, action="referral.outcome").exists()
    # The worker reads the reply and the outcome, not the note for the union.
    async with member_client(app, member) as w:
        page = (await w.get(f"/requests/{item.id}")).text
    assert "我们明天上午给你打电话" in page and "调解成功，老板同意分两次付清" in page
    assert "需要劳动合同复印件" not in page
    # The union reads everything; management none of the partner's words.
    async with officer_client(app, XBL_CHAIR) as c:
        page = (await c.get(f"/officer/requests/{item.id}")).text
    assert "需要劳动合同复印件" in page and "调解成功" in page
    # A wage case: the partner's 32,000 is a prompt to record the payment, not counted in
    # the case's recovered amount (the union's 部分支付 / 已支付 records are).
    assert re.search(r'id="partner-recovered">.*?32,000', page, re.S)
    assert 'id="wage-recovered">0 元<' in page
    await ServiceRequest.filter(id=item.id).update(referred=True)
    async with officer_client(app, XBL_MANAGER) as c:
        page = (await c.get(f"/officer/requests/{item.id}")).text
    assert "我们明天上午给你打电话" not in page and "需要劳动合同复印件" not in page
    assert "工友说老板威胁他" not in page
    # Closed: a new referral to the same partner may follow.
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), partner.id, Consent.NONE, ""))
    assert await Referral.filter(request_id=item.id).count() == 2
    counts = await partners.counts_by_project([item.project_id])  # type: ignore[attr-defined]
    mine = counts[item.project_id]  # type: ignore[attr-defined]
    assert mine["mediated"] >= 1 and mine["open"] >= 1 and mine["total"] >= 2


async def test_another_partner_sees_nothing(app: Any) -> None:
    one = await new_partner()
    two = await new_partner(organisation="另一家律所")
    member = await make_member(app, name="周二柱")
    item = await make_request(member)
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), one.id, Consent.VERBAL, "只给第一家看的说明"))
    async with officer_client(app, two.phone) as c:
        assert (await c.get(f"/partner/requests/{item.id}")).status_code == 404
        assert f"/partner/requests/{item.id}" not in (await c.get("/partner")).text
        token = csrf_of((await c.get("/partner")).text)
        r = await c.post(f"/partner/requests/{item.id}/outcome",
                         data={"csrf_token": token, "outcome": "withdrawn"})
        assert r.status_code == 404
    # When both have it, the second reads neither the first's note nor the name (no consent
    # given to it).
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), two.id, Consent.NONE, ""))
    async with officer_client(app, two.phone) as c:
        page = (await c.get(f"/partner/requests/{item.id}")).text
    assert "只给第一家看的说明" not in page and member.name not in page


# --- accounts -------------------------------------------------------------------------------

async def test_chair_and_upper_add_partner_accounts(app: Any) -> None:
    phone = fresh_phone()
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/officers")
        assert 'name="organisation"' in page.text
        token = csrf_of(page.text)
        missing = await c.post("/officer/officers", data={
            "csrf_token": token, "name": "李律师", "phone": phone, "role": "partner"})
        assert missing.status_code == 422 and not await Officer.exists(phone=phone)
        ok = await c.post("/officer/officers", data={
            "csrf_token": token, "name": "李律师", "phone": phone, "role": "partner",
            "organisation": "莲湖区法律援助工作站", "partner_kind": "legal_aid"})
        assert ok.status_code == 200
    made = await Officer.get(phone=phone).select_related("union")
    assert made.role == Role.PARTNER and made.union.code == "xibailiang"
    profile = await PartnerProfile.get(officer_id=made.id)
    assert profile.organisation == "莲湖区法律援助工作站"
    assert await AuditEntry.filter(action="officer.add", target_id=made.id).exists()
    # A partner account never changes role, nor does a union account become a partner.
    choices = await _role_choices(app, XBL_CHAIR)
    assert choices and not any('value="partner"' in c for c in choices)
    # The upper union places one at its own node.
    upper_phone = fresh_phone()
    async with officer_client(app, UPPER) as c:
        page = await c.get("/officer/officers")
        r = await c.post("/officer/officers", data={
            "csrf_token": csrf_of(page.text), "name": "热线", "phone": upper_phone,
            "role": "partner", "union": "shaanxi-jianshe", "organisation": "12351 热线",
            "partner_kind": "hotline"})
        assert r.status_code == 200, r.text[:500]
    assert (await Officer.get(phone=upper_phone).select_related("union")).union.code == (
        "shaanxi-jianshe")
    # Another project's chair cannot place one here.
    async with officer_client(app, CXG_CHAIR) as c:
        page = await c.get("/officer/officers")
        await c.post("/officer/officers", data={
            "csrf_token": csrf_of(page.text), "name": "x", "phone": fresh_phone(),
            "role": "partner", "union": "xibailiang", "organisation": "x",
            "partner_kind": "other"})
    assert not await Officer.filter(role=Role.PARTNER, union__code="xibailiang",
                                    name="x").exists()


async def _role_choices(app: Any, phone: str) -> list[str]:
    """The "改为" choices of each account in the officer's list."""
    async with officer_client(app, phone) as c:
        page = (await c.get("/officer/officers")).text
    return re.findall(r'<select id="role-\d+" name="role">(.*?)</select>', page)


@pytest.mark.timeout(900)
def test_cli_adds_a_partner(tmp_path: Path) -> None:
    lianxin = str(Path(sys.executable).parent / "lianxin")
    env = {"LIANXIN_DB_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
           "LIANXIN_SECRET_FILE": str(tmp_path / "secret"), "PATH": "/usr/bin:/bin"}
    for setup in (["migrate"], ["union", "add", "--code", "shaanxi", "--name", "陕西省总工会",
                                "--kind", "province"]):
        subprocess.run([lianxin, *setup], env=env, cwd=tmp_path, check=True,
                       capture_output=True, timeout=600)
    base = [lianxin, "officer", "add", "--phone", "13700001212", "--name", "王律师", "--role",
            "partner", "--union", "shaanxi", "--password", "partner-pass-2026"]
    refused = subprocess.run(base, env=env, cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "协办单位" in refused.stderr
    done = subprocess.run([*base, "--organisation", "西北法律援助", "--partner-kind",
                           "legal_aid"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "(partner) added" in done.stdout
    import sqlite3

    with contextlib.closing(sqlite3.connect(tmp_path / "cli.sqlite3")) as db:
        profile = db.execute("SELECT p.organisation, p.kind FROM partner_profile p JOIN officer o "
                             "ON o.id = p.officer_id WHERE o.phone = '13700001212'").fetchall()
        audited = db.execute("SELECT COUNT(*) FROM audit_entry WHERE action = 'officer.add'"
                             ).fetchone()[0]
    assert profile == [("西北法律援助", "legal_aid")] and audited == 1


async def test_figures_count_referrals_with_the_small_cell_rule(app: Any) -> None:
    partner = await new_partner()
    item = await make_request(await make_member(app))
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), partner.id, Consent.NONE, ""))
    project_id = item.project_id  # type: ignore[attr-defined]
    total = await Referral.filter(request__project_id=project_id).count()
    async with officer_client(app, XBL_CHAIR) as c:
        page = (await c.get("/officer/figures")).text
    assert f'<dd data-col="referrals">{total}</dd>' in page
    async with officer_client(app, UPPER) as c:
        page = (await c.get(f"/officer/figures/projects/{project_id}")).text
    # The upper union sees counts only, and none under 5.
    assert 'id="referral-figures"' in page
    shown = re.search(r'<dd data-col="referrals">([^<]*)</dd>', page)
    assert shown is not None
    assert shown.group(1) == (str(total) if total >= 5 else "&lt; 5")
    assert re.search(r'<dd data-col="mediated">[1-4]</dd>', page) is None


async def test_forty_outcomes_at_once_close_it_once(app: Any) -> None:
    partner = await new_partner()
    item = await make_request(await make_member(app))
    await partners.refer(await Officer.get(phone=XBL_CHAIR), item, partners.NewReferral(
        uuid.uuid4(), partner.id, Consent.NONE, ""))
    outcome = partners.NewOutcome(ReferralOutcome.COURT, 100, "")
    results = await asyncio.gather(*[partners.record_outcome(partner, item, outcome)
                                     for _ in range(40)], return_exceptions=True)
    assert sum(isinstance(r, Referral) for r in results) == 1
    assert all(isinstance(r, DomainError) for r in results if not isinstance(r, Referral))
    assert await RequestEvent.filter(request_id=item.id,
                                     kind=EventKind.PARTNER_OUTCOME).count() == 1


async def test_a_deactivated_partners_referrals_go_to_a_colleague(app: Any) -> None:
    """The organisation keeps the case: its other account at the same union takes the open
    referrals (consent carries over); with none, they wait for the next account opened."""
    organisation = f"雁塔区法律援助中心-{uuid.uuid4().hex[:4]}"
    leaving = await new_partner("xibailiang", organisation)
    colleague = await new_partner("xibailiang", organisation)
    elsewhere = await new_partner("cscec1-xibei", organisation)  # another union: not theirs
    member = await make_member(app, name="张欠薪")
    first, second = await make_request(member), await make_request(member)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    for item, consent in ((first, Consent.VERBAL), (second, Consent.NONE)):
        await partners.refer(chair, item, partners.NewReferral(uuid.uuid4(), leaving.id,
                                                               consent, ""))
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/officers")
        r = await c.post(f"/officer/officers/{leaving.id}/deactivate",
                         data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 200
        assert f"{colleague.name}：接手 2 条协办诉求" in r.text
    moved = await Referral.filter(request_id__in=[first.id, second.id]).order_by("id")
    assert [(m.partner_id, m.consent) for m in moved] == [  # type: ignore[attr-defined]
        (colleague.id, Consent.VERBAL), (colleague.id, Consent.NONE)]
    assert await InboxItem.filter(officer_id=colleague.id, reason="referred_to_you").count() == 2
    assert not await InboxItem.filter(officer_id=elsewhere.id).exists()
    # The worker heard of the two referrals when they were made; the move is not news to them.
    assert await InboxItem.filter(member_id=member.id, reason="partner_referred").count() == 2
    async with officer_client(app, colleague.phone) as c:
        page = await c.get(f"/partner/requests/{first.id}")
        assert page.status_code == 200 and member.name in page.text  # consent carried over
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{first.id}")
        assert f"原协办账号 {leaving.name} 已停用，转给同单位的 {colleague.name}" in page.text
    audit = await AuditEntry.get(action="officer.deactivate", target_id=leaving.id)
    assert audit.detail["handed_over"]["referrals"] == {str(colleague.id): 2}

    # The last account of the organisation leaves: the referrals wait, the chair is told, and
    # the next account opened there takes them.
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/officers")
        r = await c.post(f"/officer/officers/{colleague.id}/deactivate",
                         data={"csrf_token": csrf_of(page.text)})
        assert "2 条协办诉求没有同单位的账号接手" in r.text
    assert await Referral.filter(partner_id=colleague.id, closed_at__isnull=True).count() == 2
    phone = fresh_phone()
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/officers")
        r = await c.post("/officer/officers", data={
            "csrf_token": csrf_of(page.text), "name": "新律师", "phone": phone,
            "role": "partner", "organisation": organisation, "partner_kind": "legal_aid"})
        assert r.status_code == 200
    newcomer = await Officer.get(phone=phone)
    assert await Referral.filter(partner_id=newcomer.id, closed_at__isnull=True).count() == 2
    assert await InboxItem.filter(officer_id=newcomer.id, reason="referred_to_you").count() == 2


async def test_two_accounts_opened_at_once_take_each_waiting_referral_once(app: Any) -> None:
    organisation = f"碑林区调解室-{uuid.uuid4().hex[:4]}"
    leaving = await new_partner("xibailiang", organisation, PartnerKind.MEDIATION)
    member = await make_member(app)
    items = [await make_request(member) for _ in range(3)]
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    for item in items:
        await partners.refer(chair, item, partners.NewReferral(uuid.uuid4(), leaving.id,
                                                               Consent.NONE, ""))
    await officers.deactivate(leaving, chair)
    a = await new_partner("xibailiang", organisation, PartnerKind.MEDIATION)
    b = await new_partner("xibailiang", organisation, PartnerKind.MEDIATION)

    async def adopt(partner: Officer) -> None:
        async with transaction():
            await handover.adopt_referrals(partner, chair)

    await asyncio.gather(*(adopt(p) for _ in range(20) for p in (a, b)))
    held = await Referral.filter(request_id__in=[i.id for i in items]).values_list(
        "partner_id", "closed_at")
    assert len(held) == 3 and all(p in (a.id, b.id) and c is None for p, c in held)
    moves = await RequestEvent.filter(request_id__in=[i.id for i in items],
                                      kind=EventKind.PARTNER_REFERRED).values_list("detail",
                                                                                  flat=True)
    assert sum(1 for d in moves if "from_name" in d) == 3  # type: ignore[operator]
