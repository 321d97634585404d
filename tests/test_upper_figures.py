"""The view from above and coverage: the upper union's project table checked by hand on a
small tree (2 companies, 3 projects), its sorting, small-cell suppression, drill-down access
and Excel file; 入会率 and the chair's headcount form; and the summary rows kept by the
database equal to the ones rebuilt from scratch after a random workload."""

from __future__ import annotations

import asyncio
import io
import random
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest

from server import privacy
from server.db import fetch
from server.labels import CHINA
from server.models import (
    AuditEntry,
    Category,
    Member,
    MemberMove,
    MemberStatus,
    MoveKind,
    Officer,
    Role,
    ServiceRequest,
    Status,
    Team,
    UnionNode,
)
from server.models.figures import Headcount, ProjectFigures
from server.models.requests import Anonymity, Urgency
from server.passwords import hash_password
from server.services import coverage, figure_rows, lifecycle, membership, upper
from server.services.escalation import run_deadline_job
from server.services.requests import NewRequest, file_requests
from server.services.unions import add_team, add_union
from tests.conftest import ADMIN, csrf_of, fresh_phone
from tests.factories import make_member, make_request, officer_client

PASSWORD = "figures-password-1"
SMALL, NOT_SMALL = privacy.SMALL, privacy.NOT_SMALL
# These projects have no wage cases (tests/test_wages.py has the wage columns).
NO_WAGES = {"wage_owed": 0, "wage_recovered": 0, "wage_workers": 0}
# Where a row's requests read "< 5" or "≥ 5", its wage cells are empty.
HIDDEN_WAGES = {"wage_owed": None, "wage_recovered": None, "wage_workers": None}


@dataclass
class Tree:
    industry: UnionNode
    company_a: UnionNode
    company_b: UnionNode
    p1: UnionNode
    p2: UnionNode
    b1: UnionNode
    industry_officer: Officer
    company_officer: Officer
    chair_p1: Officer


async def _officer(role: Role, union: UnionNode, name: str) -> Officer:
    return await Officer.create(phone=fresh_phone(), name=name, role=role, union=union,
                                password_hash=hash_password(PASSWORD))


async def make_tree() -> Tree:
    """industry → company A → branch → p1, p2; industry → company B → b1 (own codes per
    call: every test builds its own tree in the module's database)."""
    s = secrets.token_hex(3)
    industry = await add_union(code=f"ind-{s}", name=f"测试行业{s}", kind="industry",
                               parent_code="shaanxi")
    company_a = await add_union(code=f"coa-{s}", name=f"甲公司{s}", kind="company",
                                parent_code=industry.code)
    branch = await add_union(code=f"bra-{s}", name=f"甲公司西北分公司{s}", kind="branch",
                             parent_code=company_a.code)
    p1 = await add_union(code=f"p1-{s}", name=f"一号项目{s}", kind="project",
                         parent_code=branch.code, auto_approve=True)
    p2 = await add_union(code=f"p2-{s}", name=f"二号项目{s}", kind="project",
                         parent_code=branch.code, auto_approve=True)
    company_b = await add_union(code=f"cob-{s}", name=f"乙公司{s}", kind="company",
                                parent_code=industry.code)
    b1 = await add_union(code=f"b1-{s}", name=f"乙一项目{s}", kind="project",
                         parent_code=company_b.code, auto_approve=True)
    return Tree(industry, company_a, company_b, p1, p2, b1,
                await _officer(Role.UPPER, industry, "行业工会干部"),
                await _officer(Role.UPPER, company_a, "甲公司工会干部"),
                await _officer(Role.CHAIR, p1, "一号项目主席"))


async def add_members(project: UnionNode, n: int, status: MemberStatus = MemberStatus.ACTIVE,
                      team: Team | None = None) -> list[Member]:
    out = []
    for _ in range(n):
        out.append(await Member.create(
            client_id=uuid.uuid4(), project=project, team=team, name="测试工友",
            phone=fresh_phone(), trade="木工", status=status,
            member_no=f"T{secrets.token_hex(6)}" if status == MemberStatus.ACTIVE else None))
    return out


def month_start(now: datetime, back: int = 0) -> datetime:
    """The first minute of this month (or `back` months before) in China time, as UTC."""
    month = figure_rows.shift_month(figure_rows.month_of(now), -back)
    return datetime(int(month[:4]), int(month[5:]), 1, 0, 1, tzinfo=CHINA).astimezone(UTC)


async def add_request(member: Member, at: datetime, status: Status = Status.SUBMITTED, *,
                      on_time: bool | None = None, rating: int | None = None,
                      overdue: bool = False) -> ServiceRequest:
    done = status in {Status.RESOLVED, Status.CLOSED}
    now = datetime.now(UTC)
    return await ServiceRequest.create(
        client_id=uuid.uuid4(), member=member, project_id=member.project_id,  # type: ignore[attr-defined]
        category=Category.LIVING, description="测试", status=status, created_at=at,
        ack_due_at=at + timedelta(hours=24), resolve_due_at=at + timedelta(days=5),
        level_due_at=now - timedelta(hours=1) if overdue else now + timedelta(days=30),
        resolved_on_time=on_time if done else None, rating=rating)


async def populate(tree: Tree, now: datetime) -> None:
    """The numbers of the hand-checked table (this month):

    p1: 7 active members (+1 pending, +1 left), site headcount 10 → 70.0 %;
        6 requests by 5 workers: 2 resolved on time (rated 5, 5), 1 resolved late (rated 2),
        1 declined, 2 open of which 1 overdue.
    p2: 3 members, headcount 4; 2 open requests by 2 workers.
    b1: 12 members, headcount 20 → 60.0 %; 15 requests by 6 workers: 10 resolved (5 on time),
        10 rated (5 satisfied), 5 open and overdue.
    """
    at = month_start(now)
    m1 = await add_members(tree.p1, 7)
    await add_members(tree.p1, 1, MemberStatus.PENDING)
    await add_members(tree.p1, 1, MemberStatus.LEFT)
    m2 = await add_members(tree.p2, 3)
    mb = await add_members(tree.b1, 12)
    await add_request(m1[0], at, Status.RESOLVED, on_time=True, rating=5)
    await add_request(m1[1], at, Status.CLOSED, on_time=True, rating=5)
    await add_request(m1[2], at, Status.RESOLVED, on_time=False, rating=2)
    await add_request(m1[3], at, Status.DECLINED)
    await add_request(m1[4], at, Status.IN_PROGRESS, overdue=True)
    await add_request(m1[4], at, Status.SUBMITTED)
    await add_request(m2[0], at)
    await add_request(m2[1], at)
    filers = [mb[0]] * 5 + [m for m in mb[1:6] for _ in range(2)]
    for i, member in enumerate(filers):
        if i < 10:
            await add_request(member, at, Status.RESOLVED, on_time=i < 5,
                              rating=5 if i % 2 == 0 else 3)
        else:
            await add_request(member, at, Status.IN_PROGRESS, overdue=True)
    for project, count in ((tree.p1, 10), (tree.p2, 4), (tree.b1, 20)):
        await coverage.record(tree.chair_p1, project,
                              coverage.CoverageInput(figure_rows.today_china(now),
                                                     [coverage.Entry(None, count)]), ip="t")
    await figure_rows.refresh_overdue(now)


def cells(table: upper.Table, project: UnionNode) -> dict[str, Any]:
    return next(r.cells for r in table.rows if r.project_id == project.id)


def this_month(now: datetime) -> upper.Period:
    month = figure_rows.month_of(now)
    return upper.Period(month, month)


async def loaded(officer: Officer) -> Officer:
    return await Officer.get(id=officer.id).select_related("union")


async def test_industry_table_by_hand(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    t = await upper.table(await loaded(tree.industry_officer), this_month(now), now)
    # By company and branch, then name: 乙 (U+4E59) before 甲 (U+7532).
    assert [r.project_id for r in t.rows] == [tree.b1.id, tree.p1.id, tree.p2.id]
    # b1 shows everything; p2's members (3) read "< 5", and p1 (7) is hidden with it as
    # "≥ 5", or the total 22 would give p2 away; the same for requests (p2 by 2 workers).
    assert cells(t, tree.b1) == {
        "name": tree.b1.name, "members": 12, "headcount": 20, "coverage": 12 / 20,
        "requests": 15, "resolved": 10 / 15, "on_time": 5 / 10, "satisfaction": 5 / 10,
        "overdue": NOT_SMALL, **NO_WAGES}
    assert cells(t, tree.p2) == {
        "name": tree.p2.name, "members": SMALL, "headcount": SMALL, "coverage": None,
        "requests": SMALL, "resolved": None, "on_time": None, "satisfaction": None,
        "overdue": 0, **HIDDEN_WAGES}
    p1 = cells(t, tree.p1)
    assert (p1["members"], p1["headcount"], p1["coverage"]) == (NOT_SMALL, NOT_SMALL, None)
    assert (p1["requests"], p1["overdue"]) == (NOT_SMALL, SMALL)
    # p1's rates: 3 of 5 resolved, 2 of 3 on time and satisfied: parts under 5, hidden.
    assert (p1["resolved"], p1["on_time"], p1["satisfaction"]) == (None, None, None)
    assert t.total.cells == {
        "name": "", "members": 22, "headcount": 34, "coverage": 22 / 34,
        "requests": 23, "resolved": 13 / 22, "on_time": 7 / 13, "satisfaction": 7 / 13,
        "overdue": 6, **NO_WAGES}
    assert t.suppressed
    async with officer_client(app, tree.industry_officer.phone, PASSWORD) as c:
        home = await c.get("/officer")
        page = await c.get("/officer/figures", params={"from": t.period.first,
                                                       "to": t.period.last})
    assert 'id="to-projects"' in home.text  # no longer just "只能看统计数字"
    assert page.status_code == 200
    assert 'id="projects"' in page.text and 'id="k-rule"' in page.text
    assert 'id="tot-coverage">64.7%<' in page.text and 'id="tot-resolved">59.1%<' in page.text
    assert "测试工友" not in page.text  # no names of people, ever


async def test_admin_sees_exact_numbers(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    admin = await Officer.get(phone=ADMIN).select_related("union")
    t = await upper.table(admin, this_month(now), now)
    assert not t.suppressed
    assert cells(t, tree.p1) == {
        "name": tree.p1.name, "members": 7, "headcount": 10, "coverage": 0.7, "requests": 6,
        "resolved": 3 / 5, "on_time": 2 / 3, "satisfaction": 2 / 3, "overdue": 1, **NO_WAGES}
    assert cells(t, tree.p2) == {
        "name": tree.p2.name, "members": 3, "headcount": 4, "coverage": 0.75, "requests": 2,
        "resolved": 0.0, "on_time": None, "satisfaction": None, "overdue": 0, **NO_WAGES}


async def test_company_sees_only_its_projects_and_complement_rule(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    t = await upper.table(await loaded(tree.company_officer), this_month(now), now)
    assert [r.project_id for r in t.rows] == [tree.p1.id, tree.p2.id]
    assert [(r["members"], r["headcount"], r["requests"], r["overdue"]) for r in t.rows] == [
        (NOT_SMALL, NOT_SMALL, NOT_SMALL, SMALL), (SMALL, SMALL, SMALL, 0)]
    # The branch above both projects names them; the company (the reader's own) does not.
    assert t.rows[0].parents.startswith("甲公司西北分公司")
    assert t.total.cells["members"] == 10 and t.total.cells["requests"] == 8
    # 3 of 7 resolved: the part is under 5, so the rate is hidden even in the total.
    assert t.total.cells["resolved"] is None and t.total.cells["overdue"] == SMALL


async def test_sorting_by_shown_values(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    officer = await loaded(tree.industry_officer)
    period = this_month(now)
    order = {}
    for key in ("members", "coverage", "name", "requests"):
        for desc in (False, True):
            t = await upper.table(officer, period, now, key, desc)
            order[key, desc] = [r.project_id for r in t.rows]
    p1, p2, b1 = tree.p1.id, tree.p2.id, tree.b1.id
    # 12 > "≥ 5" > "< 5": what the cells say, nothing more.
    assert order["members", True] == [b1, p1, p2]
    assert order["members", False] == [p2, p1, b1]
    # Only b1 has a 入会率 to show; rows without one go last in both directions.
    assert order["coverage", True] == [b1, p1, p2] == order["coverage", False]
    assert order["requests", False] == [p2, p1, b1]
    assert order["requests", True] == [b1, p1, p2]
    # Pages cut the table after sorting all of it; a page past the end shows the last one.
    second = await upper.table(officer, period, now, "members", True, page=2, page_size=2)
    assert [r.project_id for r in second.rows] == [p2] and second.projects == 3
    beyond = await upper.table(officer, period, now, "members", True, page=9, page_size=2)
    assert beyond.page == 2
    names = sorted([(tree.p1.name, p1), (tree.p2.name, p2), (tree.b1.name, b1)])
    assert order["name", False] == [i for _, i in names]
    assert order["name", True] == [i for _, i in reversed(names)]
    async with officer_client(app, tree.industry_officer.phone, PASSWORD) as c:
        page = await c.get("/officer/figures", params={
            "from": period.first, "to": period.last, "sort": "members", "dir": "desc"})
        bad = await c.get("/officer/figures", params={"sort": "name; DROP", "dir": "x"})
    assert page.text.index(f'data-project="{b1}"') < page.text.index(
        f'data-project="{p1}"') < page.text.index(f'data-project="{p2}"')
    assert 'aria-sort="descending"' in page.text
    # The header links sort without JavaScript, keep the period, and turn the order round.
    assert f"?from={period.first}&amp;to={period.last}&amp;sort=members&amp;dir=asc" in page.text
    assert bad.status_code == 200


def test_hidden_cells_sort_in_tree_order_whichever_their_values() -> None:
    """Two "< 5" cells (3 and 1 underneath) and two "≥ 5" cells (9 and 5) keep their tree
    order in both directions: the order does not rank what the cells hide."""
    shown = privacy.suppress_cells({"a": (3, 3), "b": (1, 1), "c": (9, 9), "d": (5, 5),
                                    "e": (30, 30)})
    assert shown == {"a": SMALL, "b": SMALL, "c": 9, "d": NOT_SMALL, "e": 30}
    shown["c"] = NOT_SMALL  # as if the complement had reached it too
    rows = [upper.Row(i, {"name": k, "members": v}) for i, (k, v) in enumerate(shown.items())]
    up = [r.cells["name"] for r in upper.sort_rows(rows, "members", False)]
    down = [r.cells["name"] for r in upper.sort_rows(rows, "members", True)]
    assert up == ["a", "b", "c", "d", "e"]
    assert down == ["e", "c", "d", "a", "b"]


def test_people_not_requests_decide_small_cells() -> None:
    # 40 requests by 3 workers read "< 5"; the cell hidden with it must bring 2 more people.
    shown = privacy.suppress_cells({"x": (40, 3), "y": (6, 6), "z": (50, 20)})
    assert shown == {"x": SMALL, "y": NOT_SMALL, "z": 50}
    assert privacy.suppress_table({"a": 3, "b": 7, "c": 12}) == {
        "a": SMALL, "b": NOT_SMALL, "c": 12}


async def test_filers_counted_exactly_when_months_straddle_k(app: Any) -> None:
    """4 workers file each month for two months, the same 4 both times: the bounds (4, 8)
    straddle 5, so the table counts them one by one and hides the cell; 4 others in the
    second month make 8 distinct, and the cell shows."""
    tree = await make_tree()
    now = datetime.now(UTC)
    members = await add_members(tree.b1, 8)
    await add_members(tree.b1, 10)
    for back in (1, 0):
        for m in members[:4]:
            await add_request(m, month_start(now, back))
    officer = await loaded(tree.industry_officer)
    this_month = figure_rows.month_of(now)
    period = upper.Period(figure_rows.shift_month(this_month, -1), this_month)
    assert cells(await upper.table(officer, period, now), tree.b1)["requests"] == SMALL
    for m in members[4:]:
        await add_request(m, month_start(now))
    assert cells(await upper.table(officer, period, now), tree.b1)["requests"] == 12


async def test_trend_and_quarters(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    members = await add_members(tree.b1, 10)
    current_q = figure_rows.quarter_of(figure_rows.month_of(now))
    months_into_q = len(figure_rows.months(current_q, figure_rows.month_of(now))) - 1
    prev_q_start = month_start(now, months_into_q + 3)
    for m in members[:6]:  # last quarter: 6 by 6 workers, all resolved on time, rated 5
        await add_request(m, prev_q_start, Status.RESOLVED, on_time=True, rating=5)
    for i, m in enumerate(members):  # this month: 10 by 10, 5 resolved
        await add_request(m, month_start(now), Status.RESOLVED if i < 5 else Status.SUBMITTED,
                          on_time=True if i < 5 else None)
    officer = await loaded(tree.company_officer)  # company A: b1 is not below it
    rows, _ = await upper.trend(officer, tree.company_a.path, now)
    assert all(r.requests == 0 for r in rows)
    officer = await loaded(tree.industry_officer)
    rows, q = await upper.trend(officer, tree.industry.path, now)
    assert len(rows) == 12 and rows[0].month == figure_rows.month_of(now)
    assert (rows[0].requests, rows[0].resolved, rows[0].bar) == (10, 0.5, 100)
    prev_row = next(r for r in rows if r.month == figure_rows.month_of(prev_q_start))
    assert (prev_row.requests, prev_row.resolved, prev_row.on_time) == (6, 1.0, 1.0)
    assert q.previous.cells.requests == 6 and q.previous.cells.resolved == 1.0
    assert q.current.cells.requests == 10 and q.current.cells.resolved == 0.5
    assert q.change("resolved") == pytest.approx(-0.5)
    assert q.current.label == f"{current_q[:4]}-Q{(int(current_q[5:]) - 1) // 3 + 1}"


async def test_coverage_month_by_month_uses_the_headcount_in_force(app: Any) -> None:
    """入会率 at each month's end: members whose stretch covered the month's end (moves and
    leaving included) over the site headcount entered for that time, not today's."""
    tree = await make_tree()
    now = datetime.now(UTC)
    m = [figure_rows.shift_month(figure_rows.month_of(now), -k) for k in range(4)]  # m[0]: now
    early, before_last = month_start(now, 3), month_start(now, 1)
    # p1: 6 members from three months back, 1 of whom left at the start of last month; 4
    # joined last month; 1 moved in this month (numbered long ago elsewhere).
    old = await add_members(tree.p1, 6)
    await Member.filter(id__in=[x.id for x in old]).update(joined_at=early)
    await Member.filter(id=old[0].id).update(status=MemberStatus.LEFT, left_at=before_last)
    await MemberMove.create(member_id=old[0].id, kind=MoveKind.LEFT, from_project_id=tree.p1.id,
                            from_status=MemberStatus.ACTIVE, started_at=early,
                            created_at=before_last)
    later = await add_members(tree.p1, 4)
    await Member.filter(id__in=[x.id for x in later]).update(joined_at=before_last)
    moved = await add_members(tree.p1, 1)
    await Member.filter(id=moved[0].id).update(joined_at=early - timedelta(days=90),
                                               project_since=month_start(now))
    # A pending worker never counts.
    await add_members(tree.p1, 1, MemberStatus.PENDING)
    # The headcount as entered over time: 10 three months back; 20 last month, corrected
    # the same day to 16 (the last entry of a day counts).
    day = figure_rows.today_china(now)
    for as_of, count in ((early.astimezone(CHINA).date(), 10),
                         (before_last.astimezone(CHINA).date(), 20),
                         (before_last.astimezone(CHINA).date(), 16)):
        assert day - as_of < coverage.MAX_BACKDATE
        await coverage.record(tree.chair_p1, tree.p1, coverage.CoverageInput(
            as_of, [coverage.Entry(None, count)]), ip="t")
    # p2: members but never a headcount: in neither part of the ratio.
    p2 = await add_members(tree.p2, 7)
    await Member.filter(id__in=[x.id for x in p2]).update(joined_at=early)

    expected = {m[3]: 6 / 10, m[2]: 6 / 10, m[1]: 9 / 16, m[0]: 10 / 16}
    officer = await loaded(tree.company_officer)
    for rows in ((await upper.trend(officer, tree.company_a.path, now))[0],
                 (await upper.trend(officer, tree.p1.path, now, project_id=tree.p1.id))[0]):
        got = {r.month: r.coverage for r in rows}
        assert {k: got[k] for k in expected} == pytest.approx(expected)
        assert [r.coverage for r in rows[4:]] == [None] * 8  # no headcount in force yet
    parts = await coverage.monthly(m[::-1], path=tree.company_a.path)
    assert parts[m[1]] == coverage.MonthCoverage(9, 16)

    # On the pages: the trend column of the upper view and of the project's own page. The
    # upper view does not wait for the past month ends to be counted (a task of their own):
    # its first view has this month's rate only; the next snapshot has them all.
    app.state.figures_memo = upper.Memo()
    async with officer_client(app, tree.company_officer.phone, PASSWORD) as c:
        first_view = await c.get("/officer/figures")
        assert 'data-col="coverage">62.5%<' in first_view.text
        assert 'data-col="coverage">56.2%<' not in first_view.text
        await app.state.figures_memo.closed.settle()
        app.state.figures_memo.clear()
        for url in ("/officer/figures", f"/officer/figures/projects/{tree.p1.id}"):
            page = await c.get(url)
            assert page.status_code == 200
            assert (f'<tr data-month="{m[1]}">' in page.text
                    and 'data-col="coverage">56.2%<' in page.text), url

    # Outside the union a month of under 5 members shows no rate; the admin sees it.
    small = await add_members(tree.b1, 3)
    await Member.filter(id__in=[x.id for x in small]).update(joined_at=early)
    await coverage.record(tree.chair_p1, tree.b1, coverage.CoverageInput(
        early.astimezone(CHINA).date(), [coverage.Entry(None, 8)]), ip="t")
    company_b = await _officer(Role.UPPER, tree.company_b, "乙公司工会干部")
    rows, _ = await upper.trend(await loaded(company_b), tree.company_b.path, now)
    assert {r.coverage for r in rows[:4]} == {None}
    admin = await Officer.get(phone=ADMIN).select_related("union")
    rows, _ = await upper.trend(admin, tree.company_b.path, now)
    assert [r.coverage for r in rows[:4]] == [3 / 8] * 4


async def test_drill_down_access(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    period = {"from": figure_rows.month_of(now), "to": figure_rows.month_of(now)}
    async with officer_client(app, tree.company_officer.phone, PASSWORD) as c:
        mine = await c.get(f"/officer/figures/projects/{tree.p1.id}", params=period)
        other = await c.get(f"/officer/figures/projects/{tree.b1.id}")
        missing = await c.get("/officer/figures/projects/999999999")
        table = await c.get("/officer/figures")
    assert mine.status_code == 200
    assert 'data-col="members">7<' in mine.text and 'data-col="coverage">70.0%<' in mine.text
    assert 'id="by-status"' in mine.text and "测试工友" not in mine.text
    assert other.status_code == 404 and missing.status_code == 404
    assert f'data-project="{tree.p1.id}"' in table.text
    assert f'data-project="{tree.b1.id}"' not in table.text and tree.b1.name not in table.text
    # A chair has their own figures page, with their coverage, and no table of the others.
    async with officer_client(app, tree.chair_p1.phone, PASSWORD) as c:
        own = await c.get("/officer/figures")
        drill = await c.get(f"/officer/figures/projects/{tree.p2.id}")
        xlsx = await c.get("/officer/figures.xlsx")
    assert own.status_code == 200 and 'id="projects"' not in own.text
    assert 'id="cov-rate">70.0%<' in own.text
    assert drill.status_code == 403 and xlsx.status_code == 403


async def test_excel_export_holds_the_table(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    month = figure_rows.month_of(now)
    async with officer_client(app, tree.industry_officer.phone, PASSWORD) as c:
        r = await c.get("/officer/figures.xlsx", params={"from": month, "to": month,
                                                         "sort": "members", "dir": "desc"})
    assert r.status_code == 200 and r.headers["content-type"].startswith(upper.XLSX_TYPE)
    book = openpyxl.load_workbook(io.BytesIO(r.content))
    sheet = book.worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = next(i for i, row in enumerate(rows) if row[0] == "项目")
    assert rows[header] == ["项目", "所属", "会员", "在场人数", "入会率", "诉求", "办结率",
                            "按时办结率", "满意率", "超时未办", "欠薪金额（元）", "已追回（元）",
                            "欠薪涉及人数"]
    body = rows[header + 1:header + 5]
    assert [row[0] for row in body] == [tree.b1.name, tree.p1.name, tree.p2.name,
                                        "合计（3 个项目）"]
    assert body[0][2:] == [12, 20, 0.6, 15, pytest.approx(10 / 15), 0.5, 0.5, NOT_SMALL,
                           0, 0, 0]
    assert body[2][2:] == [SMALL, SMALL, "—", SMALL, "—", "—", "—", 0, "—", "—", "—"]
    assert body[3][2] == 22 and body[3][5] == 23
    assert any("< 5" in str(row[0]) for row in rows[:header])  # the rule, written above
    assert "测试工友" not in str(rows)
    assert [s.title for s in book.worksheets] == ["项目", "月度趋势", "季度对比"]
    assert await AuditEntry.filter(action="figures.export",
                                   actor_id=tree.industry_officer.id).exists()


# --- coverage -------------------------------------------------------------------------------

async def test_coverage_by_team_and_the_chairs_form(app: Any) -> None:
    tree = await make_tree()
    steel = await add_team(tree.p1, "钢筋班组")
    wood = await add_team(tree.p1, "木工班组")
    await add_members(tree.p1, 6, team=steel)
    await add_members(tree.p1, 2, team=wood)
    await add_members(tree.p1, 1, MemberStatus.PENDING, team=wood)
    async with officer_client(app, tree.chair_p1.phone, PASSWORD) as c:
        page = await c.get("/officer/coverage")
        token = csrf_of(page.text)

        async def post(**form: str) -> httpx.Response:
            return await c.post("/officer/coverage", data={"csrf_token": token, **form})

        cases = {
            "-5": "不能是负数", "abc": "请填数字", "12.5": "请填整数",
            "1000000": "请核对是否多打了 0", "99999999999999": "数字太大",
        }
        for raw, message in cases.items():
            bad = await post(headcount=raw)
            assert bad.status_code == 422 and message in bad.text, raw
            assert 'aria-invalid="true"' in bad.text
        empty = await post(headcount="", as_of="")
        assert empty.status_code == 422 and "请至少填写一个人数" in empty.text
        future = (figure_rows.today_china() + timedelta(days=1)).isoformat()
        assert "不能晚于今天" in (await post(headcount="10", as_of=future)).text
        assert "日期格式不对" in (await post(headcount="10", as_of="2026-13-45")).text
        too_big = await post(headcount="20", **{f"team_{steel.id}": "25"})
        assert too_big.status_code == 422 and "不能多于全项目在场人数" in too_big.text
        assert await Headcount.filter(project=tree.p1).count() == 0
        # Full-width digits and a thousands separator, as a Chinese keyboard types them.
        ok = await post(headcount="１,２00", **{f"team_{steel.id}": "8", f"team_{wood.id}": ""})
        assert ok.status_code == 303
        later = await post(headcount="12")
        assert later.status_code == 303
        page = await c.get("/officer/coverage")
    assert 'id="cov-rate">66.7%<' in page.text  # 8 active members of 12 on site
    assert 'id="cov-headcount">12<' in page.text
    assert f'data-team="{steel.id}"' in page.text and "75.0%" in page.text  # 6 of 8
    pf = await ProjectFigures.get(project=tree.p1)
    assert (pf.members, pf.headcount) == (8, 12)
    history = await Headcount.filter(project=tree.p1).order_by("id").values_list(
        "team_id", "count", "entered_by_id")
    assert history == [(None, 1200, tree.chair_p1.id), (steel.id, 8, tree.chair_p1.id),
                       (None, 12, tree.chair_p1.id)]
    assert await AuditEntry.filter(action="coverage.update").count() >= 2
    # A figure for an earlier day is history, not the current value.
    await coverage.record(tree.chair_p1, tree.p1, coverage.CoverageInput(
        figure_rows.today_china() - timedelta(days=30), [coverage.Entry(None, 500)]), ip="t")
    assert (await ProjectFigures.get(project=tree.p1)).headcount == 12
    cov = await coverage.of_project(tree.p1)
    assert (cov.site.members, cov.site.headcount, cov.site.rate) == (8, 12, 8 / 12)
    assert [(t.name, t.members, t.headcount) for t in cov.teams] == [
        ("木工班组", 2, None), ("钢筋班组", 6, 8)]


async def test_cadre_sees_their_team_and_others_cannot_enter(app: Any) -> None:
    tree = await make_tree()
    team = await add_team(tree.p1, "混凝土班组")
    cadre = await Officer.create(phone=fresh_phone(), name="一号干部", role=Role.CADRE,
                                 union=tree.p1, team=team, password_hash=hash_password(PASSWORD))
    await add_members(tree.p1, 5, team=team)
    await coverage.record(tree.chair_p1, tree.p1, coverage.CoverageInput(
        figure_rows.today_china(), [coverage.Entry(None, 40), coverage.Entry(team.id, 10)]),
        ip="t")
    async with officer_client(app, cadre.phone, PASSWORD) as c:
        home = await c.get("/officer")
        form = await c.get("/officer/coverage")
    assert "入会率 50.0%" in home.text and 'id="team-coverage-line"' in home.text
    assert form.status_code == 403
    async with officer_client(app, tree.company_officer.phone, PASSWORD) as c:
        assert (await c.get("/officer/coverage")).status_code == 403


# --- incremental == rebuilt -----------------------------------------------------------------

async def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    months = await fetch("SELECT project_id AS p, month AS m, requests AS r, filers AS f, "
                         "countable AS c, done AS d, with_due AS w, on_time AS o, rated AS ra, "
                         "satisfied AS s FROM figures_month ORDER BY project_id, month")
    filers = await fetch("SELECT project_id AS p, month AS m, member_id AS mem, requests AS r "
                         "FROM figures_filer ORDER BY project_id, month, member_id")
    projects = await fetch("SELECT project_id AS p, members AS m, headcount AS h, "
                           "overdue AS o FROM project_figures ORDER BY project_id")
    return {"months": [tuple(r) for r in months], "filers": [tuple(r) for r in filers],
            "projects": [tuple(r) for r in projects]}


async def test_incremental_equals_rebuilt_after_random_workload(app: Any) -> None:
    seed = secrets.randbits(32)
    rng = random.Random(seed)
    tree = await make_tree()
    chairs = {p.id: await _officer(Role.CHAIR, p, "主席") for p in (tree.p2, tree.b1)}
    chairs[tree.p1.id] = tree.chair_p1
    projects = [tree.p1, tree.p2, tree.b1]
    members: list[Member] = []
    for p in projects:
        for _ in range(4):
            members.append(await make_member(app, p.code))
    now = datetime.now(UTC)
    for step in range(160):
        op = rng.randrange(9)
        member = rng.choice(members)
        when = now - timedelta(days=rng.randint(0, 120), minutes=rng.randint(0, 1440))
        fresh = await Member.get(id=member.id).select_related("project", "team", "liaison")
        if op <= 2 and fresh.status == MemberStatus.ACTIVE:
            await make_request(fresh, now=when)
        elif op == 3 and fresh.status == MemberStatus.ACTIVE:
            batch = [NewRequest(uuid.uuid4(), Category.SAFETY, f"批量 {step} {i}",
                                Urgency.NORMAL, Anonymity.MANAGEMENT) for i in range(3)]
            await file_requests(fresh, [*batch, batch[0]], now=when)
        elif op in (4, 5):
            ours = ServiceRequest.filter(project_id__in=[p.id for p in projects])
            request = await ours.order_by("id").offset(
                rng.randrange(max(1, await ours.count()))).first()
            if request is not None:
                chair = await loaded(chairs[request.project_id])  # type: ignore[attr-defined]
                actions = lifecycle.officer_actions(chair, request)
                if actions:
                    action = "resolve" if "resolve" in actions and rng.random() < 0.5 \
                        else rng.choice(actions)
                    # Wage milestones need amounts: tests/test_wages.py has their workload.
                    if action not in ("reassign", "duplicate") and not action.startswith(
                            "wage_"):
                        await lifecycle.apply_officer_action(
                            chair, request, action, lifecycle.ActionInput(note="好"), now=now)
        elif op == 6:
            request = await ServiceRequest.filter(status__in=[Status.RESOLVED, Status.CLOSED],
                                                  rating__isnull=True,
                                                  project_id__in=[p.id for p in projects]
                                                  ).first()
            if request is not None:
                owner = await Member.get(id=request.member_id)  # type: ignore[attr-defined]
                await lifecycle.apply_worker_action(
                    owner, request, rng.choice(["rate", "reopen"]) if request.status
                    == Status.RESOLVED else "rate",
                    lifecycle.ActionInput(rating=rng.randint(1, 5), note="再看看"))
        elif op == 7:
            # A worker leaves, or moves to another project (as a transfer would write it).
            if rng.random() < 0.5:
                await Member.filter(id=member.id).update(status=MemberStatus.LEFT)
            else:
                target = rng.choice(projects)
                await Member.filter(id=member.id).update(project_id=target.id,
                                                         status=MemberStatus.ACTIVE)
        else:
            # A pending application (approved or rejected), or a member approved at once.
            project = rng.choice(projects)
            (pending,) = await add_members(project, 1, MemberStatus.PENDING)
            if rng.random() < 0.5:
                await membership.approve(pending, chairs[project.id])
                members.append(pending)
            else:
                await membership.reject(pending, chairs[project.id], "不是本项目工人")
    await run_deadline_job(now + timedelta(days=40))
    # A request deleted outright (no code path does it today; the triggers cope).
    gone = await ServiceRequest.filter(project_id=tree.b1.id).first()
    if gone is not None:
        await gone.delete()
    for p in projects:
        await coverage.record(chairs[p.id], p, coverage.CoverageInput(
            figure_rows.today_china(), [coverage.Entry(None, rng.randint(0, 500))]), ip="t")
    await figure_rows.refresh_overdue(now)
    kept = await snapshot()
    await figure_rows.rebuild(now)
    rebuilt = await snapshot()
    assert kept == rebuilt, f"seed {seed}"
    assert sum(r[2] for r in rebuilt["months"]) == await ServiceRequest.all().count()
    # The workload did what it is there to do (so the equality is not between empties).
    ours = ServiceRequest.filter(project_id__in=[p.id for p in projects])
    assert await ours.count() > 20
    assert await ours.filter(status__in=[Status.RESOLVED, Status.CLOSED]).exists()


@pytest.mark.parametrize("workers", [1, 5])
async def test_concurrent_filing_counts_each_worker_once(app: Any, workers: int) -> None:
    """40 requests inserted at once (PostgreSQL: 40 transactions racing for one month's row
    and the same workers' filer rows): every request counted, each worker once."""
    tree = await make_tree()
    people = await add_members(tree.b1, workers)
    now = datetime.now(UTC)
    await asyncio.gather(*(add_request(people[i % workers], now) for i in range(40)))
    row = await fetch("SELECT requests AS r, filers AS f FROM figures_month "
                      "WHERE project_id = ?", tree.b1.id)
    assert [tuple(r) for r in row] == [(40, workers)]


async def test_overdue_refresh_is_scheduled(app: Any) -> None:
    tree = await make_tree()
    (member,) = await add_members(tree.b1, 1)
    now = datetime.now(UTC)
    await add_request(member, now, Status.SUBMITTED, overdue=True)
    await figure_rows.refresh_overdue(now - timedelta(minutes=10))
    assert await figure_rows.refresh_overdue_if_stale(now)
    assert (await ProjectFigures.get(project=tree.b1)).overdue == 1
    assert not await figure_rows.refresh_overdue_if_stale(now + timedelta(minutes=1))


async def test_memo_serves_the_same_table_until_it_is_too_old(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    officer = await loaded(tree.industry_officer)
    period = this_month(now)
    memo = upper.Memo()
    first = await upper.table(officer, period, now, memo=memo, max_age=60)
    (member,) = await add_members(tree.b1, 1)
    await add_request(member, month_start(now))
    cached = await upper.table(officer, period, now, "requests", True, memo=memo, max_age=60)
    assert cached.total.cells["requests"] == first.total.cells["requests"] == 23
    assert cached.made_at == first.made_at and cached.rows[0].project_id == tree.b1.id
    fresh = await upper.table(officer, period, now, memo=memo, max_age=0)
    assert fresh.total.cells["requests"] == 24
    # An admin (inside the union) never gets the upper union's suppressed copy, or back.
    admin = await Officer.get(phone=ADMIN).select_related("union")
    assert not (await upper.table(admin, period, now, memo=memo, max_age=60)).suppressed


async def test_rendered_view_is_shared_per_snapshot_and_never_carries_the_reader(
        app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    second = await _officer(Role.UPPER, tree.industry, "第二位行业干部")
    app.state.figures_memo = upper.Memo()  # a snapshot of this test's tree only
    async with officer_client(app, tree.industry_officer.phone, PASSWORD) as c1:
        first = await c1.get("/officer/figures")
        token1 = csrf_of(first.text)
    # A request filed now is not in the snapshot (10 s by default): the second reader gets
    # the same rendered body, in their own page (their token, not the first reader's).
    (member,) = await add_members(tree.b1, 1)
    await add_request(member, month_start(now))
    async with officer_client(app, second.phone, PASSWORD) as c2:
        page = await c2.get("/officer/figures")
        token2 = csrf_of(page.text)
        assert token1 != token2 and token2 in page.text and token1 not in page.text
        body = page.text[page.text.index('<section class="card wide-page"'):
                         page.text.index("</main>")]
        assert body in first.text and 'id="tot-requests">23<' in body
        # The htmx view of the table is the table alone, from the same snapshot.
        part = await c2.get("/officer/figures?sort=requests&dir=desc",
                            headers={"HX-Request": "true"})
        assert part.text.lstrip().startswith('<section class="card" id="project-table">')
        assert "<html" not in part.text and token2 not in part.text
        # Another language is its own rendering.
        await c2.get("/lang?to=en&next=/officer/figures")
        english = await c2.get("/officer/figures")
        assert "Membership rate (month end)" in english.text
    # A new snapshot (here: a fresh memo) shows the new request.
    app.state.figures_memo = upper.Memo()
    async with officer_client(app, second.phone, PASSWORD) as c2:
        assert 'id="tot-requests">24<' in (await c2.get("/officer/figures")).text


async def test_an_old_snapshot_serves_while_the_next_is_assembled(app: Any) -> None:
    tree = await make_tree()
    now = datetime.now(UTC)
    await populate(tree, now)
    officer = await loaded(tree.industry_officer)
    period = this_month(now)
    memo = upper.Memo()
    first = await upper.table(officer, period, now, memo=memo, max_age=10)
    (member,) = await add_members(tree.b1, 1)
    await add_request(member, month_start(now))
    key = upper.memo_key(officer, period)
    memo._entries[key].made -= 15  # past max_age, within STALE_FACTOR × max_age
    stale = await upper.table(officer, period, now, memo=memo, max_age=10)
    assert stale.total.cells["requests"] == first.total.cells["requests"] == 23
    await memo.settle()  # the task started by that view
    renewed = await upper.table(officer, period, now, memo=memo, max_age=10)
    assert renewed.total.cells["requests"] == 24 and renewed.made > stale.made
    # Past STALE_FACTOR × max_age nobody is served the old one: the reader waits.
    (member,) = await add_members(tree.b1, 1)
    await add_request(member, month_start(now))
    memo._entries[key].made -= 31
    assert (await upper.table(officer, period, now, memo=memo,
                              max_age=10)).total.cells["requests"] == 25


def test_memo_pages_live_exactly_as_long_as_their_snapshot() -> None:
    memo = upper.Memo()
    key = ("/1/", True, "2026-01", "2026-12")
    view = ("zh_Hans", False, "", False, 1)
    old = upper.Assembled([], upper.Row(None, {}), [], None, None,  # type: ignore[arg-type]
                          datetime.now(UTC), 100.0)
    memo._entries[key] = old
    memo.keep_page(key, view, old.made, "<p>old</p>")
    assert memo.page(key, view, max_age=1e9) == "<p>old</p>"
    assert memo.page(key, ("en", False, "", False, 1), max_age=1e9) is None
    assert memo.page(key, view, max_age=0) is None  # the snapshot is too old
    memo.put(key, upper.Assembled([], upper.Row(None, {}), [], None,  # type: ignore[arg-type]
                                  None, datetime.now(UTC), 200.0))
    assert memo.page(key, view, max_age=1e9) is None  # rendered from the previous snapshot


def test_periods() -> None:
    now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 2026-12-01 01:00 in China
    assert figure_rows.month_of(now) == "2026-12"
    assert upper.period_from(None, None, now) == upper.Period("2026-01", "2026-12")
    assert upper.period_from("2026-05", "2026-03", now) == upper.Period("2026-03", "2026-05")
    assert upper.period_from("junk", "2026-13", now) == upper.Period("2026-01", "2026-12")
    assert upper.period_from("2001-01", "2026-12", now).first == "2022-01"  # at most 60
    assert figure_rows.quarter_of("2026-12") == "2026-10"
    assert figure_rows.shift_month("2026-01", -1) == "2025-12"
    quick = dict(upper.quick_periods(now))
    assert quick["上季度"] == upper.Period("2026-07", "2026-09")
    assert upper.Period("2026-02", "2026-02").bounds()[1] == datetime(2026, 3, 1, tzinfo=CHINA)
    assert date(2026, 1, 1) < date(2026, 2, 1)
