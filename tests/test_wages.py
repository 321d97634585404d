"""Wage cases (欠薪): the amounts on the request form (single and batch), milestones with
amounts, members' claims and the labour inspector's export (consent, audit), calendar-day
clocks across the 2027 Spring Festival (正月初一 = 2027-02-06), and wage sums in the summary
rows: up the union tree, small cells outside the union, and the rows the triggers keep
equal to the rows rebuilt from scratch."""

from __future__ import annotations

import io
import random
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import openpyxl
import pytest

from server import privacy
from server.db import fetch
from server.labels import CHINA
from server.models import (
    Anonymity,
    AuditEntry,
    Category,
    CategoryDeadline,
    InboxItem,
    Member,
    Officer,
    RequestEvent,
    Role,
    ServiceRequest,
    Status,
    UnionNode,
    Urgency,
    WageClaim,
)
from server.services import deadlines, figure_rows, figures, lifecycle, upper, wages
from server.services import requests as svc
from server.services.demo import load_demo_cases
from server.services.escalation import run_deadline_job
from tests.conftest import (
    ADMIN,
    CXG_CHAIR,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    new_client,
)
from tests.factories import jpeg_bytes, make_member, member_client, officer_client
from tests.test_sync_batch import item, post_batch
from tests.test_upper_figures import PASSWORD, _officer, loaded, make_tree, this_month

SMALL, NOT_SMALL = privacy.SMALL, privacy.NOT_SMALL


async def file_wage(member: Member, owed: int | None, workers: int | None = None, *,
                    now: datetime | None = None, employer: str = "某劳务公司",
                    period: str = "2026 年 10 月") -> ServiceRequest:
    new = svc.NewRequest(uuid.uuid4(), Category.WAGES, "工资没发", Urgency.NORMAL,
                         Anonymity.MANAGEMENT,
                         wage=wages.WageFacts(owed, workers, employer, period))
    from server.models import LimitCounter
    from server.services import limits

    await LimitCounter.filter(bucket=f"{limits.current().requests.name}:{member.id}").delete()
    return (await svc.file_request(member, new, [], now=now)).request


async def chair_of(project: UnionNode) -> Officer:
    officer = await Officer.filter(role=Role.CHAIR, union_id=project.id).first()
    assert officer is not None
    return await loaded(officer)


async def act(officer: Officer, request: ServiceRequest, action: str, amount: int | None = None,
              promised: date | None = None, now: datetime | None = None) -> None:
    fresh = await ServiceRequest.get(id=request.id)
    await lifecycle.apply_officer_action(officer, fresh, action, lifecycle.ActionInput(
        wage=wages.MilestoneInput(amount, promised)), now=now)


# --- the form ---------------------------------------------------------------------------------

async def test_form_takes_amounts_and_refuses_bad_ones_keeping_what_was_typed(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        assert 'name="amount_owed"' in page.text and 'name="workers_affected"' in page.text
        token = csrf_of(page.text)
        base = {"csrf_token": token, "category": "wages", "description": "欠薪",
                "anonymous": "management", "employer_owing": "某某劳务",
                "wage_period": "9—11 月", "workers_affected": "８"}
        for typed, message in (("-500", "不能是负数"), ("1200.50", "请填整数元"),
                               ("一万", "请只填数字"), ("20000000", "最多 10,000,000 元"),
                               ("0", "应大于 0")):
            r = await c.post("/requests/new", data={**base, "amount_owed": typed,
                                                   "client_id": str(uuid.uuid4())})
            assert r.status_code == 422, typed
            assert message in r.text, typed
            # What was typed stays in the form, next to the message.
            assert f'value="{typed}"' in r.text and 'value="某某劳务"' in r.text
        bad_workers = await c.post("/requests/new", data={
            **base, "amount_owed": "9000", "workers_affected": "0",
            "client_id": str(uuid.uuid4())})
        assert bad_workers.status_code == 422 and "涉及人数" in bad_workers.text
        client_id = str(uuid.uuid4())
        files = [("photo", ("slip.jpg", jpeg_bytes(), "image/jpeg"))]
        form = {**base, "amount_owed": "12,000元", "client_id": client_id}
        first = await c.post("/requests/new", data=form, files=files)
        again = await c.post("/requests/new", data=form, files=files)
        assert first.status_code == again.status_code == 303
        other = await c.post("/requests/new", data={**form, "amount_owed": "13000"},
                             files=files)
        assert other.status_code == 409  # the same key with another amount is not a replay
        stored = await ServiceRequest.get(client_id=client_id)
        assert (stored.amount_owed, stored.workers_affected, stored.employer_owing,
                stored.wage_period, stored.amount_recovered) == (12000, 8, "某某劳务",
                                                                  "9—11 月", None)
        detail = await c.get(first.headers["location"])
        assert 'id="wage-owed"' in detail.text and "12,000" in detail.text
        # Another category ignores the wage fields.
        living = str(uuid.uuid4())
        r = await c.post("/requests/new", data={**base, "category": "living",
                                                "amount_owed": "-1", "client_id": living})
        assert r.status_code == 303
        assert (await ServiceRequest.get(client_id=living)).amount_owed is None


async def test_batch_items_carry_the_amounts(app: Any) -> None:
    member = await make_member(app)
    good = item("批量欠薪", category="wages", amount_owed="8800", workers_affected="3",
                employer_owing="某班组长", wage_period="11 月")
    bad = item("批量欠薪二", category="wages", amount_owed="-1")
    async with member_client(app, member) as c:
        results = (await post_batch(c, [good, bad])).json()["results"]
        assert [x["status"] for x in results] == [201, 422]
        assert "不能是负数" in results[1]["message"]
        again = (await post_batch(c, [good])).json()["results"]
        assert again[0]["status"] == 200
    stored = await ServiceRequest.get(client_id=good["id"])
    assert (stored.amount_owed, stored.workers_affected, stored.employer_owing) == (
        8800, 3, "某班组长")


# --- milestones ----------------------------------------------------------------------------------

async def test_milestones_with_amounts_reach_the_worker(app: Any) -> None:
    member = await make_member(app)
    case = await file_wage(member, 20000, 4)
    other = await file_wage(member, None)
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{case.id}")
        assert 'id="wage-case"' in page.text and "action-wage_verify" in page.text
        token = csrf_of(page.text)
        url = f"/officer/requests/{case.id}"
        assert (await c.post(f"{url}/wage_verify", data={"csrf_token": token,
                                                         "amount": "18000"})).status_code == 303
        r = await c.post(f"{url}/wage_promise", data={"csrf_token": token, "promised_on": ""})
        assert r.status_code == 422 and "请选择承诺支付的日期" in r.text
        assert (await c.post(f"{url}/wage_promise", data={
            "csrf_token": token, "promised_on": "2026-12-25", "note": "老板说月底前"})
        ).status_code == 303
        assert (await c.post(f"{url}/wage_partial", data={"csrf_token": token,
                                                          "amount": "5000"})).status_code == 303
        # More than is still owed: refused, with what was typed kept in the form.
        r = await c.post(f"{url}/wage_partial", data={"csrf_token": token, "amount": "15000"},
                         headers={"HX-Request": "true"})
        assert r.status_code == 422 and "还欠 13,000 元" in r.text and 'value="15000"' in r.text
        # 已支付 without an amount: the rest is paid and the case is resolved.
        assert (await c.post(f"{url}/wage_paid", data={"csrf_token": token})).status_code == 303
        # Not a wage case's action on a case with no amount yet: 核实 needs one.
        r = await c.post(f"/officer/requests/{other.id}/wage_verify",
                         data={"csrf_token": token}, headers={"HX-Request": "true"})
        assert r.status_code == 422 and "核实后的欠薪金额" in r.text
    done = await ServiceRequest.get(id=case.id)
    assert (done.status, done.amount_owed, done.amount_recovered, done.wage_stage,
            done.wage_promised_on) == (Status.RESOLVED, 18000, 18000, "paid", date(2026, 12, 25))
    assert done.resolved_at is not None and done.resolved_on_time is not None
    kinds = await RequestEvent.filter(request_id=case.id).order_by("id").values_list(
        "kind", "public", "detail")
    wage_events = [(k, p, d) for k, p, d in kinds if str(k).startswith("wage_")]
    assert wage_events == [
        ("wage_verified", True, {"amount": 18000}),
        ("wage_promised", True, {"date": "2026-12-25"}),
        ("wage_partial", True, {"amount": 5000, "recovered": 5000}),
        ("wage_paid", True, {"amount": 13000, "recovered": 18000}),
    ]
    reasons = await InboxItem.filter(member_id=member.id, request_id=case.id).values_list(
        "reason", flat=True)
    assert sorted(reasons) == ["wage_paid", "wage_progress", "wage_progress", "wage_progress"]
    assert await AuditEntry.filter(action="request.wage_partial", target_id=case.id).exists()
    async with member_client(app, member) as c:
        page = await c.get(f"/requests/{case.id}")
        assert "累计追回 18,000 元" in page.text and "承诺 2026-12-25 前支付" in page.text
        assert "老板说月底前" in page.text


# --- claims and the inspector's list -----------------------------------------------------------

async def test_claims_and_inspector_export_only_for_those_who_consent(app: Any) -> None:
    filer = await make_member(app, name="王发起")
    agree = await make_member(app, name="李同意")
    refuse = await make_member(app, name="张不同意")
    joiner = await make_member(app, name="赵自己来")
    elsewhere = await make_member(app, "chuangxingang", name="孙外地")
    await Member.filter(id=agree.id).update(
        id_number_enc=app.state.keyring.encrypt("11010519491231002X"),
        id_number_masked="110105********002X")
    case = await file_wage(filer, 10000, 2, employer="恒安劳务")
    async with officer_client(app, XBL_CHAIR) as c:
        token = csrf_of((await c.get(f"/officer/requests/{case.id}")).text)
        url = f"/officer/requests/{case.id}/claims"
        for member, amount, consent in ((agree, "9000", "on"), (refuse, "8000", "")):
            r = await c.post(url, data={"csrf_token": token, "member": member.member_no,
                                        "amount": amount, "consent": consent})
            assert r.status_code == 303, r.text[:300]
        r = await c.post(url, data={"csrf_token": token, "member": elsewhere.phone,
                                    "amount": "100"}, headers={"HX-Request": "true"})
        assert r.status_code == 422 and "找不到本项目的这位会员" in r.text
        page = await c.get(f"/officer/requests/{case.id}")
        assert "李同意" in page.text and 'id="wage-claims"' in page.text
    # The totals cover the claims: 17,000 yuan over 2 workers (more than the 10,000 filed).
    fresh = await ServiceRequest.get(id=case.id)
    assert (fresh.amount_owed, fresh.workers_affected) == (17000, 2)
    # A worker of the project joins by themselves, offline-safe: the same form twice is one.
    async with member_client(app, joiner) as c:
        page = await c.get(f"/wages/{case.id}/join")
        assert page.status_code == 200 and "恒安劳务" in page.text and "王发起" not in page.text
        form = {"csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
                "amount": "6500", "consent": "on"}
        assert (await c.post(f"/wages/{case.id}/join", data=form)).status_code == 303
        assert (await c.post(f"/wages/{case.id}/join", data=form)).status_code == 303
        bad = await c.post(f"/wages/{case.id}/join", data={**form, "amount": "-3",
                                                           "client_id": str(uuid.uuid4())})
        assert bad.status_code == 422 and "不能是负数" in bad.text and 'value="-3"' in bad.text
    assert await WageClaim.filter(request_id=case.id).count() == 3
    fresh = await ServiceRequest.get(id=case.id)
    assert (fresh.amount_owed, fresh.workers_affected) == (23500, 3)
    async with member_client(app, elsewhere) as c:
        assert (await c.get(f"/wages/{case.id}/join")).status_code == 404
    # Management and the upper union: no claims, no list, not even that it exists.
    for phone in (XBL_MANAGER, CXG_CHAIR):
        async with officer_client(app, phone) as c:
            assert (await c.get(f"/officer/requests/{case.id}/inspector.xlsx")).status_code == 404
    async with officer_client(app, XBL_CHAIR) as c:
        r = await c.get(f"/officer/requests/{case.id}/inspector.xlsx")
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    rows = [[cell for cell in row] for row in sheet.iter_rows(min_row=4, values_only=True)]
    names = [row[0] for row in rows]
    assert names == ["李同意", "赵自己来"]
    assert rows[0][1] == "11010519491231002X" and rows[0][2] == agree.phone
    assert rows[0][3] == "恒安劳务" and rows[0][6] == 9000
    assert "中建一局西柏梁项目工会联合会" in rows[0][4]
    audit = await AuditEntry.get(action="wage.inspector_export", target_id=case.id)
    assert audit.detail == {"rows": 2}
    assert await AuditEntry.filter(action="wage.claim", target_id=case.id).count() == 2


# --- calendar days across the 2027 Spring Festival -----------------------------------------------

def china(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, tzinfo=CHINA).astimezone(UTC)


def test_wage_clock_counts_calendar_days_and_is_stricter_before_the_festival() -> None:
    default = deadlines.default_targets(Category.WAGES)
    # 2027-01-05 is more than four weeks before 正月初一 (2027-02-06): 2 calendar days.
    assert deadlines.resolve_due(Category.WAGES, default, china(2027, 1, 5)) == china(2027, 1, 7)
    assert not deadlines.before_spring_festival(date(2027, 1, 8))
    assert deadlines.before_spring_festival(date(2027, 1, 9))
    # Filed on 2027-02-05, the eve: the stricter default, 1 calendar day, due on new year's
    # day itself; the holidays do not stop the clock.
    due = deadlines.resolve_due(Category.WAGES, default, china(2027, 2, 5))
    assert due == china(2027, 2, 6)
    # A safety request filed at the same moment counts working days: later than that.
    safety = deadlines.resolve_due(Category.SAFETY, deadlines.default_targets(
        Category.SAFETY), china(2027, 2, 5))
    assert safety >= china(2027, 2, 9)
    # A chair's own wage target stands, in calendar days still.
    own = deadlines.Targets(24, 5, custom=True)
    assert deadlines.resolve_due(Category.WAGES, own, china(2027, 2, 5)) == china(2027, 2, 10)
    # From new year's day on, the ordinary default again.
    assert deadlines.resolve_due(Category.WAGES, default, china(2027, 2, 6)) == china(2027, 2, 8)


async def test_wage_case_escalates_during_the_spring_festival(app: Any) -> None:
    member = await make_member(app)
    filed_at = china(2027, 2, 5)
    case = await file_wage(member, 30000, 3, now=filed_at)
    assert case.resolve_due_at == china(2027, 2, 6)
    chair = await chair_of(member.project)
    fresh = await ServiceRequest.get(id=case.id)
    await lifecycle.apply_officer_action(chair, fresh, "acknowledge", lifecycle.ActionInput(),
                                         now=china(2027, 2, 5, 12))
    # New year's day, 11:00: an hour past the deadline, the case goes up a level.
    await run_deadline_job(china(2027, 2, 6, 11))
    up = await ServiceRequest.get(id=case.id)
    assert up.level == "chair"
    # The next level also has calendar days: 2 after the escalation, holiday or not.
    assert up.level_due_at == china(2027, 2, 8, 11)
    # The chair's form: saving the defaults unchanged keeps the pre-festival rule.
    await deadlines.save_targets(member.project, await deadlines.targets_for(member.project))
    assert not await CategoryDeadline.filter(project_id=member.project.id,
                                             category="wages").exists()


# --- figures -------------------------------------------------------------------------------------

async def test_wage_amounts_sum_up_the_tree_with_small_cells_outside(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    p1 = [await make_member(app, tree.p1.code) for _ in range(5)]
    p2 = [await make_member(app, tree.p2.code)]
    b1 = [await make_member(app, tree.b1.code) for _ in range(8)]
    a = await file_wage(p1[0], 96000, 8)
    b = await file_wage(p1[1], 8500)  # no count: the filer alone
    declined = await file_wage(p1[2], 50000, 10)
    await file_wage(p1[3], 1000, 1)
    await file_wage(p1[4], 2000, 2)
    await file_wage(p2[0], 15000, 2)
    c = await file_wage(b1[0], 42000, 6)
    for member in b1[1:]:
        await file_wage(member, 1000, 1)
    chair_p1 = await loaded(tree.chair_p1)
    await act(chair_p1, a, "wage_partial", 30000)
    await act(chair_p1, b, "wage_paid")
    fresh = await ServiceRequest.get(id=declined.id)
    await lifecycle.apply_officer_action(chair_p1, fresh, "decline",
                                         lifecycle.ActionInput(note="不是本项目"))
    b1_chair = await _officer(Role.CHAIR, tree.b1, "乙一主席")
    await act(await loaded(b1_chair), c, "wage_partial", 12000)
    # Per project (rows kept by the triggers): p1 4 cases (the declined one is out),
    # 107,500 owed, 38,500 recovered, 12 workers; p2 15,000 over 2; b1 49,000 over 13.
    rows = await fetch("SELECT project_id AS p, wage_cases AS c, wage_owed AS o, "
                       "wage_recovered AS r, wage_workers AS w FROM figures_month "
                       "WHERE project_id IN (?, ?, ?) ORDER BY project_id",
                       tree.p1.id, tree.p2.id, tree.b1.id)
    assert [tuple(int(v) for v in r[1:]) for r in rows] == [
        (4, 107500, 38500, 12), (1, 15000, 0, 2), (8, 49000, 12000, 13)]
    # The admin sees every number, and the totals up the tree.
    admin = await Officer.get(phone=ADMIN).select_related("union")
    t = await upper.table(admin, this_month(now), now)
    by_id = {r.project_id: r.cells for r in t.rows}
    assert (by_id[tree.p2.id]["wage_owed"], by_id[tree.p2.id]["wage_recovered"],
            by_id[tree.p2.id]["wage_workers"]) == (15000, 0, 2)
    # The industry union (outside): p2's case was filed by one worker, so its requests read
    # "< 5" and its wage cells are empty; p1 is hidden with it ("≥ 5"), or the total would
    # give p2 away; b1 (8 workers filed, 13 affected) shows.
    industry = await loaded(tree.industry_officer)
    t = await upper.table(industry, this_month(now), now)
    cells = {r.project_id: r.cells for r in t.rows}
    hidden = {"wage_owed": None, "wage_recovered": None, "wage_workers": None}
    assert {k: cells[tree.p2.id][k] for k in hidden} == hidden
    assert {k: cells[tree.p1.id][k] for k in hidden} == hidden
    assert (cells[tree.b1.id]["wage_owed"], cells[tree.b1.id]["wage_recovered"],
            cells[tree.b1.id]["wage_workers"]) == (49000, 12000, 13)
    assert (t.total["wage_owed"], t.total["wage_recovered"], t.total["wage_workers"]) == (
        171500, 50500, 27)
    # The month's trend row and this quarter say the same (all filed this month).
    expected = {"wage_owed": 171500, "wage_recovered": 50500, "wage_workers": 27}
    assert t.trend[0].month == this_month(now).first and t.trend[0].wage == expected
    assert t.quarters.current.wage == expected
    # The company (A: p1 and p2 only) sums its own subtree.
    company = await loaded(tree.company_officer)
    t = await upper.table(company, this_month(now), now)
    assert t.total["wage_owed"] == 122500 and t.total["wage_workers"] == 14
    assert t.trend[0].wage == {"wage_owed": 122500, "wage_recovered": 38500,
                               "wage_workers": 14}
    assert {r.project_id for r in t.rows} == {tree.p1.id, tree.p2.id}
    async with officer_client(app, tree.industry_officer.phone, PASSWORD) as client:
        page = await client.get("/officer/figures")
        assert 'data-col="wage_owed">171,500<' in page.text
        assert 'data-col="wage_owed">49,000<' in page.text
        xlsx = await client.get("/officer/figures.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    values = [cell for row in book["项目"].iter_rows(values_only=True) for cell in row]
    assert "欠薪金额（元）" in values and 171500 in values and 107500 not in values
    for name in ("月度趋势", "季度对比"):
        rows = list(book[name].iter_rows(values_only=True))
        assert rows[0][-3:] == ("欠薪金额（元）", "已追回（元）", "欠薪涉及人数")
        assert rows[1][-3:] == (171500, 50500, 27)
    assert '<td class="num" data-col="wage_recovered">50,500</td>' in page.text  # the trend
    # The chair's own page: the project's amounts, from the requests themselves.
    start, end = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    mine = await figures.compute(tree.p1.path, start, end, now)
    assert mine.wages == figures.WageFigures(4, 107500, 38500, 12, 4)
    async with officer_client(app, tree.chair_p1.phone, PASSWORD) as client:
        page = await client.get("/officer/figures")
        assert 'id="fig-wage-owed">107,500<' in page.text
        assert 'id="fig-wage-workers">12<' in page.text
    # The stored rows equal rows rebuilt from scratch.
    kept = await wage_snapshot()
    await figure_rows.rebuild(now)
    assert await wage_snapshot() == kept


async def test_management_sees_wage_totals_only_as_aggregates(app: Any) -> None:
    tree = await make_tree()
    manager = await _officer(Role.MANAGER, tree.b1, "乙一项目经理")
    member = await make_member(app, tree.b1.code)
    await file_wage(member, 5000, 3)
    async with officer_client(app, manager.phone, PASSWORD) as c:
        page = await c.get("/officer/figures")
    assert page.status_code == 200
    assert f'id="fig-wage-workers">{SMALL.replace("<", "&lt;")}<' in page.text
    assert 'id="fig-wage-owed">—<' in page.text


async def wage_snapshot() -> list[tuple[Any, ...]]:
    rows = await fetch("SELECT project_id AS p, month AS m, requests AS r, filers AS f, "
                       "countable AS c, done AS d, wage_cases AS wc, wage_owed AS wo, "
                       "wage_recovered AS wr, wage_workers AS ww FROM figures_month "
                       "ORDER BY project_id, month")
    return [tuple(int(v) if isinstance(v, int) else v for v in r) for r in rows]


async def test_wage_rows_kept_equal_rebuilt_after_random_workload(app: Any) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    tree = await make_tree()
    chair = await loaded(tree.chair_p1)
    members = [await make_member(app, tree.p1.code) for _ in range(5)]
    now = datetime.now(UTC)
    for _ in range(60):
        op = rng.randrange(6)
        ours = ServiceRequest.filter(project_id=tree.p1.id, status__in=[
            Status.SUBMITTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS])
        if op <= 1 or not await ours.exists():
            when = now - timedelta(days=rng.randint(0, 90))
            await file_wage(rng.choice(members), rng.choice([None, rng.randint(1, 90000)]),
                            rng.choice([None, rng.randint(1, 30)]), now=when)
            continue
        case = await ours.order_by("id").offset(rng.randrange(await ours.count())).first()
        assert case is not None
        try:
            if op == 2:
                await act(chair, case, "wage_verify", rng.randint(1, 90000))
            elif op == 3:
                await act(chair, case, rng.choice(["wage_partial", "wage_paid"]),
                          rng.randint(1, 5000))
            elif op == 4:
                await wages.add_claim(case, rng.choice(members), wages.ClaimInput(
                    rng.randint(1, 50000), rng.random() < 0.5), officer=chair)
            elif rng.random() < 0.5:
                await lifecycle.apply_officer_action(chair, case, "decline",
                                                     lifecycle.ActionInput(note="重复"))
            else:
                other = await ServiceRequest.filter(project_id=tree.p1.id).exclude(
                    id=case.id).first()
                if other is not None:
                    await lifecycle.apply_officer_action(chair, case, "duplicate",
                                                         lifecycle.ActionInput(
                                                             duplicate_of=other.id))
        except Exception as exc:  # a refused milestone (more paid than owed) is fine
            assert "DomainError" in type(exc).__name__, exc
    kept = await wage_snapshot()
    await figure_rows.rebuild(now)
    assert await wage_snapshot() == kept, f"seed {seed}"
    owed = sum(r[7] for r in kept if r[0] == tree.p1.id)
    expected = sum(r.amount_owed or 0 for r in await ServiceRequest.filter(
        project_id=tree.p1.id, category="wages", duplicate_of_id__isnull=True).exclude(
        status=Status.DECLINED))
    assert owed == expected > 0, f"seed {seed}"


async def test_demo_cases_fill_the_figures_and_load_once(app: Any) -> None:
    xbl = await UnionNode.get(code="xibailiang")
    start, end = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC) + timedelta(days=1)
    before = (await figures.compute(xbl.path, start, end, datetime.now(UTC))).wages
    first = await load_demo_cases(app.state.keyring)
    again = await load_demo_cases(app.state.keyring)
    assert [c.id for c in first] == [c.id for c in again]
    after = (await figures.compute(xbl.path, start, end, datetime.now(UTC))).wages
    # Other tests of this module file wage cases at xibailiang too: the demo's own share.
    assert (after.cases - before.cases, after.owed - before.owed,
            after.recovered - before.recovered, after.workers - before.workers) == (
        5, 130500, 38500, 13)
    assert await WageClaim.filter(request_id=first[0].id).count() == 3
    async with new_client(app) as c:
        assert (await c.get("/healthz")).status_code == 200


@pytest.mark.parametrize("typed", ["", "0", "12.5", "abc", "-7"])
def test_clean_amount_refuses_without_raising(typed: str) -> None:
    from server.validation import Cleaner

    c = Cleaner({"amount": typed})
    assert wages.clean_amount(c, "amount", "金额", required=True) is None
    assert "amount" in c.errors
