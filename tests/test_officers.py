"""Officers' accounts on the web and the command line: who manages whom, one-time password
codes, and deactivation that ends sessions everywhere and hands members and open requests on."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.models import (
    AuditEntry,
    EventKind,
    InboxItem,
    LimitCounter,
    Member,
    Officer,
    PasswordCode,
    RequestEvent,
    Role,
    ServiceRequest,
    Status,
    Team,
    UnionNode,
)
from server.passwords import hash_password
from server.services import lifecycle, officers, rota, unions
from tests.conftest import (
    ADMIN,
    CXG_CADRE,
    UPPER,
    XBL_CADRE,
    XBL_CADRE2,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    fresh_phone,
    login,
    new_client,
    settings_for,
)
from tests.factories import make_member, make_request, member_client, officer_client

PASSWORD = "temp-pass-2026"
CODE_RE = re.compile(r'id="password-code">.*?(\d{5} \d{5})</p>', re.S)
TEAMS = ("钢筋班组", "木工班组")


async def new_project(parent: str = "cscec1-xibei") -> UnionNode:
    """A project of its own with two teams: no other test's members or cadres in it."""
    code = "p-" + secrets.token_hex(4)
    project = await unions.add_union(code=code, name=f"测试项目 {code}", kind="project",
                                     parent_code=parent)
    for team in TEAMS:
        await unions.add_team(project, team)
    return project


async def new_officer(role: Role, union: UnionNode, team: str | None = None,
                      name: str = "") -> Officer:
    team_obj = await Team.get(project=union, name=team) if team else None
    return await Officer.create(phone=fresh_phone(), name=name or f"{role.value}-{fresh_phone()}",
                                role=role, union=union, team=team_obj,
                                password_hash=hash_password(PASSWORD))


async def members_of(app: Any, project: UnionNode, liaison: Officer, n: int,
                     team: str | None = None) -> list[Member]:
    made = [await make_member(app, project.code, team=team) for _ in range(n)]
    await Member.filter(id__in=[m.id for m in made]).update(liaison_id=liaison.id)
    return [await Member.get(id=m.id).select_related("project", "team", "liaison")
            for m in made]


async def liaisons(members: list[Member]) -> set[int | None]:
    return set(await Member.filter(id__in=[m.id for m in members]).values_list(
        "liaison_id", flat=True))  # type: ignore[arg-type]


async def loads(*cadres: Officer) -> list[int]:
    return [await Member.filter(liaison_id=c.id, status="active").count() for c in cadres]


async def post(client: httpx.AsyncClient, url: str, **data: str) -> httpx.Response:
    """A form posted by a signed-in officer (the token from their start page)."""
    token = csrf_of((await client.get("/officer")).text)
    return await client.post(url, data={"csrf_token": token, **data})


# --- hand-over --------------------------------------------------------------------------------

async def test_deactivation_hands_members_to_cadres_same_team_first_balanced(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project, name="测试主席")
    leaving = await new_officer(Role.CADRE, project, TEAMS[0], name="离开的干部")
    a1 = await new_officer(Role.CADRE, project, TEAMS[0], name="钢筋干部一")
    a2 = await new_officer(Role.CADRE, project, TEAMS[0], name="钢筋干部二")
    b1 = await new_officer(Role.CADRE, project, TEAMS[1], name="木工干部")
    await members_of(app, project, a1, 2, TEAMS[0])
    await members_of(app, project, b1, 1, TEAMS[1])
    steel = await members_of(app, project, leaving, 7, TEAMS[0])
    wood = await members_of(app, project, leaving, 3, TEAMS[1])
    loose = await members_of(app, project, leaving, 2)
    open_requests = [await make_request(m) for m in (steel[0], wood[0], loose[0])]
    assert {r.assignee_id for r in open_requests} == {leaving.id}
    done = await make_request(steel[1])
    await lifecycle.apply_officer_action(leaving, done, "resolve",
                                         lifecycle.ActionInput(note="已解决"))

    async with officer_client(app, chair.phone, PASSWORD) as c:
        page = await post(c, f"/officer/officers/{leaving.id}/deactivate", confirm="on")
    assert page.status_code == 200
    assert 'id="handover"' in page.text and "钢筋干部一" in page.text
    assert "/officer/members" in page.text  # the chair adjusts from there

    # Each team's members stayed with their own team's cadres, spread evenly; those of no
    # team filled the gaps: 2+0+1 before, 12 handed over, 5 each after.
    assert await liaisons(steel) == {a1.id, a2.id}
    assert await liaisons(wood) == {b1.id}
    assert await loads(a1, a2, b1) == [5, 5, 5]
    assert await loads(leaving) == [0]

    for r in open_requests:
        fresh = await ServiceRequest.get(id=r.id).select_related("member")
        assert fresh.assignee_id == fresh.member.liaison_id  # type: ignore[attr-defined]
        event = await RequestEvent.get(request_id=r.id, kind=EventKind.HANDED_OVER)
        # Public: the worker reads who holds it now (below); still no contact with them.
        assert event.actor_id == chair.id and event.public  # type: ignore[attr-defined]
        assert event.detail == {"from": leaving.id, "to": fresh.assignee_id,  # type: ignore[attr-defined]
                                "to_name": (await Officer.get(id=fresh.assignee_id)).name}
        assert fresh.last_event_id == event.id
        item = await InboxItem.get(event_id=event.id)
        assert item.officer_id == fresh.assignee_id  # type: ignore[attr-defined]
        assert item.reason == "handed_over"
    # What was already resolved stays with who resolved it.
    assert (await ServiceRequest.get(id=done.id)).assignee_id == leaving.id  # type: ignore[attr-defined]
    assert not await RequestEvent.exists(request_id=done.id, kind=EventKind.HANDED_OVER)

    entry = await AuditEntry.get(action="officer.deactivate", target_id=leaving.id)
    assert entry.actor_id == chair.id  # type: ignore[attr-defined]
    assert entry.detail["handed_over"]["members"] == 12  # type: ignore[index]
    assert entry.detail["handed_over"]["requests"] == 3  # type: ignore[index]
    # The new holder reads it on the timeline and in their inbox, in words.
    moved = await ServiceRequest.get(id=open_requests[0].id).select_related("assignee")
    assert moved.assignee is not None
    async with officer_client(app, moved.assignee.phone, PASSWORD) as c:
        detail = await c.get(f"/officer/requests/{open_requests[0].id}")
        assert "原负责干部账号停用，已移交" in detail.text
        inbox = await c.get("/officer/inbox")
        assert "停用账号的干部手上的诉求交给你办理" in inbox.text


async def test_the_worker_reads_who_holds_their_request_now(app: Any) -> None:
    project = await new_project()
    await new_officer(Role.CHAIR, project, name="测试主席")
    leaving = await new_officer(Role.CADRE, project, TEAMS[0], name="离开的干部")
    staying = await new_officer(Role.CADRE, project, TEAMS[0], name="接手干部甲")
    worker = (await members_of(app, project, leaving, 1, TEAMS[0]))[0]
    request = await make_request(worker)
    contact_before = (await Member.get(id=worker.id)).last_contact_at
    await officers.deactivate(leaving, None)
    assert (await ServiceRequest.get(id=request.id)).assignee_id == staying.id  # type: ignore[attr-defined]
    async with member_client(app, worker) as c:
        page = await c.get(f"/requests/{request.id}")
    assert page.status_code == 200
    assert "你的诉求已转给新的联络干部 接手干部甲" in page.text
    assert "离开的干部" not in page.text
    # Being handed on is not the union being in touch with the worker (duty of care).
    assert (await Member.get(id=worker.id)).last_contact_at == contact_before


async def test_a_request_nobody_can_take_is_not_news_for_the_worker(app: Any) -> None:
    project = await new_project()
    leaving = await new_officer(Role.CADRE, project, TEAMS[0])
    worker = (await members_of(app, project, leaving, 1, TEAMS[0]))[0]
    request = await make_request(worker)
    await officers.deactivate(leaving, None)
    event = await RequestEvent.get(request_id=request.id, kind=EventKind.HANDED_OVER)
    assert not event.public and event.detail == {"from": leaving.id, "to": None}  # type: ignore[attr-defined]


async def test_deactivation_takes_the_officer_off_the_duty_rota(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project)
    leaving = await new_officer(Role.CADRE, project, TEAMS[0])
    other = await new_officer(Role.CADRE, project, TEAMS[1])
    rows = [rota.DutyRow() for _ in range(7)]
    rows[0] = rota.DutyRow(theme="安全", department="安全部", officer_id=leaving.id)
    rows[2] = rota.DutyRow(theme="工资", department="劳资部", officer_id=other.id)
    rows[4] = rota.DutyRow(theme=rota.OPEN_FORUM, department="工会", officer_id=leaving.id)
    await rota.set_week(project, rows)
    async with officer_client(app, chair.phone, PASSWORD) as c:
        page = await post(c, f"/officer/officers/{leaving.id}/deactivate", confirm="on")
    assert page.status_code == 200
    week = await rota.week(project)
    # Off Monday and Friday, the days themselves kept; the other cadre's Wednesday untouched.
    assert [(d.theme, d.department, d.officer_id) for d in (week[0], week[2], week[4])] == [
        ("安全", "安全部", None), ("工资", "劳资部", other.id), (rota.OPEN_FORUM, "工会", None)]
    entry = await AuditEntry.get(action="officer.deactivate", target_id=leaving.id)
    assert entry.detail["handed_over"]["rota_days"] == [0, 4]  # type: ignore[index]
    # An officer on no day leaves no rota note on the record.
    outcome = await officers.deactivate(other, None)
    assert outcome.handed_over.rota_days == [2]
    third = await new_officer(Role.CADRE, project, TEAMS[1])
    assert (await officers.deactivate(third, None)).handed_over.rota_days == []
    entry = await AuditEntry.get(action="officer.deactivate", target_id=third.id)
    assert "rota_days" not in entry.detail["handed_over"]  # type: ignore[index]


async def test_without_another_cadre_members_and_requests_go_to_the_chair(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project)
    leaving = await new_officer(Role.CADRE, project, TEAMS[0])
    members = await members_of(app, project, leaving, 3, TEAMS[0])
    request = await make_request(members[0])
    outcome = await officers.deactivate(leaving, None)
    assert outcome.changed and outcome.handed_over.members == 3
    assert await loads(chair) == [3]
    fresh = await ServiceRequest.get(id=request.id)
    assert fresh.assignee_id == chair.id  # type: ignore[attr-defined]
    # Done from the shell (no actor): the chair hears of it in their inbox.
    assert await InboxItem.exists(officer_id=chair.id, request_id=request.id,
                                  reason="handed_over")
    # A request filed afterwards goes to the chair too, never to the inactive account.
    later = await make_request(members[1])
    assert later.assignee_id == chair.id


async def test_a_project_left_without_anyone_waits_for_the_next_chair(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project, name="原主席")
    members = await members_of(app, project, chair, 2, TEAMS[1])
    request = await make_request(members[0])
    async with officer_client(app, UPPER) as upper:
        # Outside the union's casework, a count under 5 people is not shown as such.
        listing = await upper.get("/officer/officers", params={"union": project.code})
        assert "原主席" in listing.text and "联系工友 &lt; 5 人" in listing.text
        page = await post(upper, f"/officer/officers/{chair.id}/deactivate", confirm="on")
        assert page.status_code == 200 and "没有人可以接手" in page.text
        assert await liaisons(members) == {None}
        held = await ServiceRequest.get(id=request.id)
        assert held.assignee_id is None and held.status == Status.SUBMITTED  # type: ignore[attr-defined]
        assert await RequestEvent.exists(request_id=request.id, kind=EventKind.HANDED_OVER)
        # The upper union sees the project has no chair, and appoints one.
        listing = await upper.get("/officer/officers")
        assert project.name in listing.text and f"union={project.code}" in listing.text
        phone = fresh_phone()
        page = await post(upper, "/officer/officers", name="新主席", phone=phone,
                          role="chair", union=project.code)
        assert page.status_code == 200, page.text[-2000:]
        assert CODE_RE.search(page.text)
    new_chair = await Officer.get(phone=phone)
    assert new_chair.role == Role.CHAIR and new_chair.union_id == project.id  # type: ignore[attr-defined]
    assert await loads(new_chair) == [2]
    adopted = await ServiceRequest.get(id=request.id)
    assert adopted.assignee_id == new_chair.id  # type: ignore[attr-defined]
    event = await RequestEvent.filter(request_id=request.id,
                                      kind=EventKind.HANDED_OVER).order_by("-id").first()
    assert event is not None and event.detail == {"from": None, "to": new_chair.id,
                                                  "to_name": "新主席"}
    assert await InboxItem.exists(officer_id=new_chair.id, request_id=request.id,
                                  reason="handed_over")


async def test_upper_union_promotes_a_cadre_to_chair_by_phone(app: Any) -> None:
    project = await new_project()
    cadre = await new_officer(Role.CADRE, project, name="要当主席的干部")
    async with officer_client(app, UPPER) as upper:
        page = await post(upper, "/officer/officers", name="任意", phone=cadre.phone,
                          role="chair", union=project.code)
        assert page.status_code == 200 and "已任命为工会主席" in page.text
        assert not CODE_RE.search(page.text)
    await cadre.refresh_from_db()
    assert cadre.role == Role.CHAIR and cadre.name == "要当主席的干部"
    # The same phone in another project is not promoted: it is simply taken.
    other = await new_project()
    async with officer_client(app, UPPER) as upper:
        page = await post(upper, "/officer/officers", name="任意", phone=cadre.phone,
                          role="chair", union=other.code)
        assert page.status_code == 422 and "已经有账号" in page.text


async def test_a_cadre_made_manager_hands_over_too(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project)
    moving = await new_officer(Role.CADRE, project)
    stays = await new_officer(Role.CADRE, project)
    await members_of(app, project, moving, 2)
    async with officer_client(app, chair.phone, PASSWORD) as c:
        page = await post(c, f"/officer/officers/{moving.id}/role", role="manager")
        assert page.status_code == 200 and "项目管理人员" in page.text
    await moving.refresh_from_db()
    assert moving.role == Role.MANAGER
    assert await loads(moving, stays) == [0, 2]


# --- who manages whom -------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "expected"), [
    (XBL_CHAIR, 200), (UPPER, 200), (ADMIN, 200), (XBL_CADRE, 403), (XBL_MANAGER, 403),
    ("outsider", 303),
])
async def test_who_opens_the_accounts_page(app: Any, who: str, expected: int) -> None:
    async with new_client(app) as c:
        if who != "outsider":
            await login(c, who)
        response = await c.get("/officer/officers")
        assert response.status_code == expected
        if who == XBL_CHAIR:
            assert "刘芳" in response.text and "周涛" in response.text  # own cadre, manager
            assert "陈静" not in response.text  # another project's cadre
            assert "李明" not in response.text  # the upper union
            assert "张卫东" not in response.text.split('id="accounts"')[1]  # not themself
        if who == UPPER:
            assert "张卫东" in response.text and "马建军" in response.text  # the chairs below
            assert "刘芳" not in response.text  # cadres are their chairs' business


async def test_chair_cannot_touch_other_projects_or_upper_officers(app: Any) -> None:
    others = [await Officer.get(phone=p) for p in (CXG_CADRE, UPPER, XBL_CHAIR, ADMIN)]
    async with officer_client(app, XBL_CHAIR) as c:
        for other in others:
            for action in ("deactivate", "password", "role"):
                r = await post(c, f"/officer/officers/{other.id}/{action}", role="manager")
                assert r.status_code == 404, (other.name, action)
        # Roles a chair does not give: a chair, or anyone outside the project.
        phone = fresh_phone()
        r = await post(c, "/officer/officers", name="新人", phone=phone, role="chair",
                       union="xibailiang")
        assert r.status_code == 422
        r = await post(c, "/officer/officers", name="新人", phone=phone, role="cadre",
                       union="chuangxingang")
        assert r.status_code == 200  # the union field is ignored: it is the chair's own
        new = await Officer.get(phone=phone).select_related("union")
        assert new.union.code == "xibailiang" and new.role == Role.CADRE
        # and a cadre's role can't become chair either
        r = await post(c, f"/officer/officers/{new.id}/role", role="chair")
        assert r.status_code == 422
    await new.refresh_from_db()
    assert new.role == Role.CADRE
    for other in others:
        await other.refresh_from_db()
        assert other.active and other.password_hash != officers.NO_PASSWORD


async def test_cadre_and_manager_cannot_manage_officers(app: Any) -> None:
    target = await Officer.get(phone=XBL_CADRE2)
    for who in (XBL_CADRE, XBL_MANAGER):
        async with officer_client(app, who) as c:
            for action in ("deactivate", "password", "reactivate"):
                r = await post(c, f"/officer/officers/{target.id}/{action}")
                assert r.status_code == 403
            r = await post(c, "/officer/officers", name="x", phone=fresh_phone(),
                           role="cadre", union="xibailiang")
            assert r.status_code == 403
    await target.refresh_from_db()
    assert target.active


async def test_upper_union_manages_only_below_it(app: Any) -> None:
    # A second branch with its own upper union and project, beside 中建一局西北公司.
    branch = await unions.add_union(code="b-" + secrets.token_hex(3), name="另一分公司",
                                    kind="branch", parent_code="cscec1")
    project = await new_project(branch.code)
    branch_upper = await new_officer(Role.UPPER, branch)
    their_chair = await new_officer(Role.CHAIR, project)
    xbl_chair = await Officer.get(phone=XBL_CHAIR)
    industry_upper = await Officer.get(phone=UPPER)
    xbl_cadre = await Officer.get(phone=XBL_CADRE)
    async with officer_client(app, branch_upper.phone, PASSWORD) as c:
        listing = await c.get("/officer/officers")
        assert their_chair.name in listing.text and xbl_chair.name not in listing.text
        for other in (xbl_chair, industry_upper, xbl_cadre, branch_upper):
            r = await post(c, f"/officer/officers/{other.id}/deactivate")
            assert r.status_code == 404
        # Nor may it place accounts outside its subtree, or at its own node.
        for union, role in (("xibailiang", "chair"), (branch.code, "upper"),
                            ("cscec1", "upper")):
            r = await post(c, "/officer/officers", name="x", phone=fresh_phone(), role=role,
                           union=union)
            assert r.status_code == 422
        r = await post(c, f"/officer/officers/{their_chair.id}/deactivate")
        assert r.status_code == 200
    await their_chair.refresh_from_db()
    assert not their_chair.active
    # The industry union above manages both the branch's upper officer and its chairs.
    async with officer_client(app, UPPER) as c:
        r = await post(c, f"/officer/officers/{their_chair.id}/reactivate")
        assert r.status_code == 200 and "已恢复" in r.text
        r = await post(c, f"/officer/officers/{branch_upper.id}/password")
        assert r.status_code == 200 and CODE_RE.search(r.text)
    await their_chair.refresh_from_db()
    assert their_chair.active
    actions = await AuditEntry.filter(target_id=their_chair.id,
                                      action__startswith="officer.").values_list(
        "action", "actor_id")
    assert ("officer.deactivate", branch_upper.id) in actions
    assert ("officer.reactivate", industry_upper.id) in actions


# --- one-time password codes ------------------------------------------------------------------

async def set_password(app: Any, phone: str, code: str, password: str = "new-pass-2026",
                       client: httpx.AsyncClient | None = None) -> httpx.Response:
    async with new_client(app) as own:
        c = client or own
        page = await c.get("/officer/password")
        return await c.post("/officer/password", data={
            "csrf_token": csrf_of(page.text), "phone": phone, "code": code,
            "password": password, "repeat": password})


async def test_new_account_sets_its_password_with_a_code_shown_once(app: Any) -> None:
    phone = fresh_phone()
    async with officer_client(app, XBL_CHAIR) as chair:
        page = await post(chair, "/officer/officers", name="新干部 王敏", phone=phone,
                          role="cadre", team=str((await Team.get(
                              project__code="xibailiang", name="木工班组")).id))
        assert page.status_code == 200
        match = CODE_RE.search(page.text)
        assert match
        code = match.group(1)
        assert not CODE_RE.search((await chair.get("/officer/officers")).text)  # shown once
    new = await Officer.get(phone=phone).select_related("team")
    assert new.team is not None and new.team.name == "木工班组"
    stored = await PasswordCode.get(officer_id=new.id)
    assert code.replace(" ", "") not in stored.code_hash and stored.used_at is None
    assert await AuditEntry.exists(action="officer.add", target_id=new.id)
    # No password works until they set their own.
    async with new_client(app) as c:
        page = await c.get("/officer/login")
        r = await c.post("/officer/login", data={"csrf_token": csrf_of(page.text),
                                                 "phone": phone, "password": "!"})
        assert r.status_code == 401
    async with new_client(app) as c:
        r = await set_password(app, phone, code, client=c)
        assert r.status_code == 303 and r.headers["location"] == "/officer"
        assert (await c.get("/officer/card")).status_code == 200  # signed in
    # Once only.
    again = await set_password(app, phone, code, "another-pass-1")
    assert again.status_code == 422 and "设置码不对" in again.text
    async with officer_client(app, phone, "new-pass-2026") as c:
        assert (await c.get("/officer")).status_code == 200
    assert await AuditEntry.exists(action="officer.password_set", target_id=new.id)


async def test_reset_voids_the_password_and_ends_sessions(app: Any) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project)
    cadre = await new_officer(Role.CADRE, project)
    async with officer_client(app, cadre.phone, PASSWORD) as signed_in:
        assert (await signed_in.get("/officer/card")).status_code == 200
        async with officer_client(app, chair.phone, PASSWORD) as c:
            page = await post(c, f"/officer/officers/{cadre.id}/password")
            match = CODE_RE.search(page.text)
            assert match
        gone = await signed_in.get("/officer/card")
        assert gone.status_code == 303 and "/officer/login" in gone.headers["location"]
    async with new_client(app) as c:
        page = await c.get("/officer/login")
        r = await c.post("/officer/login", data={"csrf_token": csrf_of(page.text),
                                                 "phone": cadre.phone, "password": PASSWORD})
        assert r.status_code == 401
    # A short or mistyped new password is refused without using up a try.
    short = await set_password(app, cadre.phone, match.group(1), "short")
    assert short.status_code == 422 and "至少" in short.text
    assert (await set_password(app, cadre.phone, match.group(1))).status_code == 303


async def test_an_expired_code_is_refused(app: Any) -> None:
    project = await new_project()
    cadre = await new_officer(Role.CADRE, project)
    outcome = await officers.reset_password(cadre, None, app.state.keyring)
    await PasswordCode.filter(officer_id=cadre.id).update(
        expires_at=(await PasswordCode.get(officer_id=cadre.id)).created_at)
    r = await set_password(app, cadre.phone, outcome.code)
    assert r.status_code == 422 and "已过期" in r.text
    # A new code replaces the old one, which stays dead.
    fresh = await officers.reset_password(cadre, None, app.state.keyring)
    assert await PasswordCode.filter(officer_id=cadre.id, used_at__isnull=True).count() == 1
    assert (await set_password(app, cadre.phone, fresh.code)).status_code == 303


async def test_forty_parallel_wrong_codes_cannot_get_in(app: Any) -> None:
    project = await new_project()
    cadre = await new_officer(Role.CADRE, project)
    outcome = await officers.reset_password(cadre, None, app.state.keyring)
    right = outcome.code
    wrong = [f"{(int(right) + i) % 10**10:010d}" for i in range(1, 41)]
    clients = [new_client(app) for _ in wrong]
    try:
        tokens = [csrf_of((await c.get("/officer/password")).text) for c in clients]
        answers = await asyncio.gather(*(
            c.post("/officer/password", data={"csrf_token": t, "phone": cadre.phone,
                                              "code": code, "password": "guess-pass-1",
                                              "repeat": "guess-pass-1"})
            for c, t, code in zip(clients, tokens, wrong, strict=True)))
    finally:
        for c in clients:
            await c.aclose()
    statuses = [r.status_code for r in answers]
    assert set(statuses) <= {422, 429}
    limit = app.state.settings.login_max_failures
    assert statuses.count(422) <= limit  # at most that many codes were ever compared
    # The code is spent: even the right one, once the phone's window is over, opens nothing.
    code_row = await PasswordCode.get(officer_id=cadre.id)
    assert code_row.used_at is not None
    await LimitCounter.filter(bucket__startswith="password.phone:").delete()
    r = await set_password(app, cadre.phone, right)
    assert r.status_code == 422
    await cadre.refresh_from_db()
    assert cadre.password_hash == officers.NO_PASSWORD


# --- two server processes ---------------------------------------------------------------------

def refused(response: httpx.Response) -> bool:
    return response.status_code == 303 and "/officer/login" in response.headers["location"]


async def test_deactivation_on_one_process_ends_the_session_on_another(
        app: Any, db_url: str, tmp_path: Path) -> None:
    from tests.e2e.conftest import LiveServer

    xibailiang = await UnionNode.get(code="xibailiang")
    cadre = await new_officer(Role.CADRE, xibailiang)
    servers = [LiveServer(db_url, tmp_path), LiveServer(db_url, tmp_path)]
    for server in servers:
        server.start(LIANXIN_DEADLINE_JOB_SECONDS="0", LIANXIN_DELIVERY_JOB_SECONDS="0")
    first, second = servers
    try:
        async with httpx.AsyncClient(base_url=second.url) as b:
            page = await b.get("/officer/login")
            signed = await b.post("/officer/login", data={
                "phone": cadre.phone, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
            assert signed.status_code == 303
            assert (await b.get("/officer/card")).status_code == 200  # cached on process 2
            cookie = {"lx_session": b.cookies["lx_session"]}
            async with httpx.AsyncClient(base_url=first.url) as a:
                await login(a, XBL_CHAIR)
                page = await a.get("/officer/officers")
                done = await a.post(f"/officer/officers/{cadre.id}/deactivate",
                                    data={"csrf_token": csrf_of(page.text), "confirm": "on"})
                assert done.status_code == 200 and "已停用" in done.text
            assert refused(await b.get("/officer/card"))
        async with httpx.AsyncClient(base_url=first.url, cookies=cookie) as a:
            assert refused(await a.get("/officer/card"))
    finally:
        for server in servers:
            server.stop()


# --- the command line -------------------------------------------------------------------------

async def lianxin(db_url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    settings = settings_for(db_url, tmp_path)
    env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_SECRET_KEY": settings.secret_key}
    child = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "lianxin"), *args, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode is not None
    return child.returncode, out.decode(), err.decode()


def rows_of(listing: str) -> dict[str, dict[str, str]]:
    lines = listing.splitlines()
    header = lines[0].split("\t")
    return {r["phone"]: r for r in (dict(zip(header, line.split("\t"), strict=True))
                                    for line in lines[1:])}


async def test_cli_list_and_deactivate(app: Any, db_url: str, tmp_path: Path) -> None:
    project = await new_project()
    chair = await new_officer(Role.CHAIR, project)
    leaving = await new_officer(Role.CADRE, project, TEAMS[0], name="命令行 离开")
    stays = await new_officer(Role.CADRE, project, TEAMS[1])
    members = await members_of(app, project, leaving, 3, TEAMS[0])
    request = await make_request(members[0])

    code, out, _ = await lianxin(db_url, tmp_path, "officer", "list", "--union", project.code)
    assert code == 0
    listed = rows_of(out)
    assert set(listed) == {chair.phone, leaving.phone, stays.phone}
    assert listed[leaving.phone] == {
        "phone": leaving.phone, "role": "cadre", "status": "active", "union": project.code,
        "team": TEAMS[0], "members": "3", "open_requests": "1", "name": "命令行 离开"}

    code, out, _ = await lianxin(db_url, tmp_path, "officer", "deactivate", "--phone",
                                 leaving.phone)
    assert code == 0
    assert out.startswith(f"officer {leaving.phone} deactivated: 0 sessions ended, "
                          "3 members and 1 open requests handed over")
    await leaving.refresh_from_db()
    assert not leaving.active
    assert await loads(stays) == [3]
    assert (await ServiceRequest.get(id=request.id)).assignee_id == stays.id  # type: ignore[attr-defined]
    entry = await AuditEntry.get(action="officer.deactivate", target_id=leaving.id)
    assert entry.actor_id is None  # type: ignore[attr-defined]

    code, out, _ = await lianxin(db_url, tmp_path, "officer", "list", "--union", project.code)
    assert rows_of(out)[leaving.phone]["status"] == "inactive"
    assert rows_of(out)[stays.phone]["members"] == "3"
    code, out, _ = await lianxin(db_url, tmp_path, "officer", "deactivate", "--phone",
                                 leaving.phone)
    assert (code, out.strip()) == (0, f"officer {leaving.phone} was already inactive")
    code, out, _ = await lianxin(db_url, tmp_path, "officer", "reactivate", "--phone",
                                 leaving.phone)
    assert code == 0 and out.startswith(f"officer {leaving.phone} reactivated")
    await leaving.refresh_from_db()
    assert leaving.active

    code, out, err = await lianxin(db_url, tmp_path, "officer", "deactivate", "--phone",
                                   "13000000000")
    assert code == 2 and out == "" and err.startswith("lianxin: ") and "13000000000" in err
    code, _, err = await lianxin(db_url, tmp_path, "officer", "list", "--union", "no-such")
    assert code == 2 and "no-such" in err

    # reset-password prints a code that works on the web.
    code, out, _ = await lianxin(db_url, tmp_path, "officer", "reset-password", "--phone",
                                 chair.phone)
    assert code == 0
    printed = re.search(r"one-time code .*: (\d{10})$", out.strip())
    assert printed
    assert (await set_password(app, chair.phone, printed.group(1))).status_code == 303
