"""The 1+X+100 duty of care: the last contact kept on the member by every source, the
cadre's list (never contacted first), logging a visit or call, the chair's table and its
warnings."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.models import (
    AuditEntry,
    Category,
    ContactKind,
    ContactLog,
    Member,
    MemberStatus,
    NodeKind,
    NoticeKind,
    NoticeScope,
    Officer,
    Role,
    ServiceRequest,
    Team,
    UnionNode,
    Urgency,
)
from server.services import care, moves, notices
from server.services import requests as svc
from server.services.demo import DEMO_PASSWORD, ensure_node
from server.services.lifecycle import ActionInput, apply_officer_action, apply_system_transition
from server.services.officers import add_officer
from tests.conftest import csrf_of, fresh_phone, new_client
from tests.factories import make_member, make_request, member_client, officer_client


async def project(code: str, *, cadres: int = 1, teams: tuple[str, ...] = ()) -> tuple[
        UnionNode, list[Officer], Officer]:
    node = await ensure_node(code, f"{code}项目工会", NodeKind.PROJECT, "cscec1-xibei", True)
    for name in teams:
        await Team.create(project=node, name=name)
    staff = [await add_officer(phone=fresh_phone(), name=f"{code} 干部{i}", role=Role.CADRE,
                               union_code=code, password=DEMO_PASSWORD,
                               team=teams[i] if i < len(teams) else None)
             for i in range(cadres)]
    chair = await add_officer(phone=fresh_phone(), name=f"{code} 主席", role=Role.CHAIR,
                              union_code=code, password=DEMO_PASSWORD)
    return node, staff, chair


async def last_contact(member: Member) -> datetime | None:
    return (await Member.get(id=member.id)).last_contact_at


async def bulk_members(node: UnionNode, liaison: Officer, n: int, **fields: Any) -> None:
    """Members straight into the table: a hundred of them is the point, not how they came."""
    await Member.bulk_create([
        Member(client_id=uuid.uuid4(), project=node, phone=fresh_phone(), name=f"工友{i:03d}",
               trade="钢筋工", status=MemberStatus.ACTIVE, liaison=liaison,
               member_no=f"T{uuid.uuid4().hex[:12]}", joined_at=datetime.now(UTC), **fields)
        for i in range(n)])


# --- the last contact, from each source ------------------------------------------------------

async def test_request_events_touch_the_member_but_the_deadline_job_does_not(app: Any) -> None:
    node, (cadre,), _ = await project("care-events")
    member = await make_member(app, node.code)
    assert await last_contact(member) is None
    filed_at = datetime.now(UTC) - timedelta(days=3)
    request = await make_request(member, now=filed_at)
    assert await last_contact(member) == filed_at  # the worker wrote in
    # The deadline job escalating for want of an answer is not anyone being in touch.
    later = filed_at + timedelta(days=2)
    await ServiceRequest.filter(id=request.id).update(level_due_at=filed_at)
    fresh = await ServiceRequest.get(id=request.id)
    assert await apply_system_transition(fresh, "auto_escalate", later)
    assert await last_contact(member) == filed_at
    # An officer acting on it is.
    acted = datetime.now(UTC)
    await apply_officer_action(cadre, await ServiceRequest.get(id=request.id), "acknowledge",
                               ActionInput(), now=acted)
    assert await last_contact(member) == acted
    # Never backwards: an event stamped earlier leaves the later contact alone.
    await apply_officer_action(cadre, await ServiceRequest.get(id=request.id), "reply",
                               ActionInput(note="周五前答复"), now=acted - timedelta(hours=1))
    assert await last_contact(member) == acted
    # An internal note is the union talking to itself, not to the worker.
    await apply_officer_action(cadre, await ServiceRequest.get(id=request.id), "note",
                               ActionInput(note="内部备注"), now=acted + timedelta(hours=1))
    assert await last_contact(member) == acted


async def test_a_batch_from_the_outbox_touches_the_member(app: Any) -> None:
    node, _, _ = await project("care-batch")
    member = await make_member(app, node.code)
    before = datetime.now(UTC)
    items = [svc.NewRequest(uuid.uuid4(), Category.LIVING, f"宿舍漏雨 {i}", Urgency.NORMAL,
                            svc.Anonymity.MANAGEMENT) for i in range(3)]
    filed = await svc.file_requests(member, items)
    assert all(isinstance(f, svc.Filed) and f.created for f in filed)
    touched = await last_contact(member)
    assert touched is not None and touched >= before


async def test_a_notice_acknowledgement_touches_the_member(app: Any) -> None:
    node, _, chair = await project("care-notice")
    member = await make_member(app, node.code)
    new = notices.NewNotice(uuid.uuid4(), "安全帽必须系带", "明天起检查。",
                            NoticeScope.PROJECT, None, NoticeKind.SAFETY, False, True, None)
    author = await Officer.get(id=chair.id).select_related("union")
    notice, _ = await notices.publish(author, new)
    assert await last_contact(member) is None
    assert await notices.acknowledge(await _loaded(member), notice, uuid.uuid4())
    touched = await last_contact(member)
    assert touched is not None and datetime.now(UTC) - touched < timedelta(minutes=1)


async def _loaded(member: Member) -> Member:
    return await Member.get(id=member.id).select_related("project")


async def test_events_at_the_old_site_do_not_count_at_the_new_one(app: Any) -> None:
    a, (a_cadre,), _ = await project("care-move-a")
    b, _, _ = await project("care-move-b")
    member = await make_member(app, a.code)
    old = await make_request(member)
    async with member_client(app, member) as c:
        page = await c.get(f"/join/{(await _invite(b)).token}")
        form = {"csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
                "name": member.name, "phone": member.phone, "trade": "钢筋工",
                "consent": "on"}
        assert (await c.post(f"/join/{(await _invite(b)).token}", data=form)).status_code == 303
    assert await last_contact(member) is None
    await apply_officer_action(a_cadre, await ServiceRequest.get(id=old.id), "acknowledge",
                               ActionInput())
    assert await last_contact(member) is None


async def _invite(node: UnionNode) -> Any:
    from server.services.invites import get_or_create_invite

    return await get_or_create_invite(node.code)


# --- 走访记录 -------------------------------------------------------------------------------

async def test_one_tap_logs_a_visit_once_and_touches_the_member(app: Any) -> None:
    node, (cadre,), _ = await project("care-tap")
    member = await make_member(app, node.code)
    async with officer_client(app, cadre.phone) as oc:
        page = await oc.get("/officer/care")
        assert page.status_code == 200 and member.name in page.text
        assert "从未联系" in page.text
        form = {"csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
                "kind": "visit"}
        first = await oc.post(f"/officer/members/{member.id}/contacts", data=form)
        # The outbox may send it again (the answer was lost): one record all the same.
        again = await oc.post(f"/officer/members/{member.id}/contacts", data=form)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == f"/officer/care#m{member.id}"
        assert await ContactLog.filter(client_id=form["client_id"]).count() == 1
        after = await oc.get("/officer/care")
        assert "今天联系过" in after.text
        # A note, from the member's page; a client_id reused for another note is refused.
        detail = await oc.get(f"/officer/members/{member.id}")
        noted = {"csrf_token": csrf_of(detail.text), "client_id": str(uuid.uuid4()),
                 "kind": "call", "note": "家里老人住院，想请假", "back": "member"}
        response = await oc.post(f"/officer/members/{member.id}/contacts", data=noted)
        assert response.headers["location"] == f"/officer/members/{member.id}#care"
        reused = await oc.post(f"/officer/members/{member.id}/contacts",
                               data={**noted, "note": "别的内容"})
        assert reused.status_code == 409
        assert "家里老人住院，想请假" in (await oc.get(f"/officer/members/{member.id}")).text
        # The outbox's background send gets the refusal as JSON, to show it as is.
        bad = await oc.post(f"/officer/members/{member.id}/contacts",
                            data={**noted, "client_id": str(uuid.uuid4()), "kind": "x"},
                            headers={"Accept": "application/json"})
        assert bad.status_code == 422 and "kind" in bad.json()["errors"]
    logs = await ContactLog.filter(member_id=member.id).order_by("id")
    assert [(log.kind, log.officer_id, log.project_id) for log in logs] == [  # type: ignore[attr-defined]
        (ContactKind.VISIT, cadre.id, node.id), (ContactKind.CALL, cadre.id, node.id)]
    assert await last_contact(member) == logs[-1].created_at
    assert await AuditEntry.filter(action="member.contact", target_id=member.id).count() == 2


async def test_no_visit_log_for_a_member_who_left_or_outside_the_scope(app: Any) -> None:
    node, (cadre,), _ = await project("care-scope")
    _, (other_cadre,), _ = await project("care-scope-other")
    member = await make_member(app, node.code)
    async with officer_client(app, other_cadre.phone) as oc:
        page = await oc.get("/officer/care")
        response = await oc.post(f"/officer/members/{member.id}/contacts", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()), "kind": "call"})
        assert response.status_code == 404
    await moves.leave(member)
    async with officer_client(app, cadre.phone) as oc:
        page = await oc.get("/officer/care")
        assert member.name not in page.text
        response = await oc.post(f"/officer/members/{member.id}/contacts", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()), "kind": "call"})
        assert response.status_code == 409
    assert not await ContactLog.exists(member_id=member.id)


# --- the cadre's list ------------------------------------------------------------------------

async def test_the_cadres_list_puts_the_never_contacted_first(app: Any) -> None:
    node, (cadre,), _ = await project("care-order")
    now = datetime.now(UTC)
    recent = await make_member(app, node.code, name="最近联系")
    stale = await make_member(app, node.code, name="很久没联系")
    never = await make_member(app, node.code, name="从没联系过")
    await Member.filter(id=recent.id).update(last_contact_at=now - timedelta(days=2))
    await Member.filter(id=stale.id).update(last_contact_at=now - timedelta(days=45))
    rows = await care.members_of(cadre)
    assert [r["id"] for r in rows] == [never.id, stale.id, recent.id]
    async with officer_client(app, cadre.phone) as oc:
        page = (await oc.get("/officer/care")).text
    order = [page.index(n) for n in ("从没联系过", "很久没联系", "最近联系")]
    assert order == sorted(order)
    assert "45 天前联系过" in page and "2 天前联系过" in page
    assert "从未联系 1 人 · 30 天内联系过 1 人" in page


async def test_a_hundred_members_on_one_page(app: Any) -> None:
    node, (cadre,), _ = await project("care-hundred")
    await bulk_members(node, cadre, 101)
    async with officer_client(app, cadre.phone) as oc:
        await oc.get("/officer/care")  # warm
        started = time.perf_counter()
        page = await oc.get("/officer/care")
        took = time.perf_counter() - started
    assert page.status_code == 200
    assert len(re.findall(r'<li class="item never" id="m\d+"', page.text)) == 101
    assert "超过 100 人，请主席调整" in page.text
    assert took < 2.0, took  # generous for a shared CI machine; bench figures in the report


# --- the chair's table -----------------------------------------------------------------------

async def test_the_chair_sees_load_coverage_and_warnings(app: Any) -> None:
    node, (busy, steady, idle), chair = await project(
        "care-chair", cadres=3, teams=("钢筋班组", "木工班组"))
    await Team.create(project=node, name="没人管班组")
    await bulk_members(node, busy, 101)
    now = datetime.now(UTC)
    await bulk_members(node, steady, 1, last_contact_at=now - timedelta(days=1))
    await bulk_members(node, steady, 1, last_contact_at=now - timedelta(days=40))
    await bulk_members(node, steady, 2)
    overview = await care.overview(node, now)
    rows = {r.officer_id: r for r in overview.cadres}
    assert (rows[busy.id].members, rows[busy.id].over_limit, rows[busy.id].never) == (
        101, True, 101)
    assert (rows[steady.id].members, rows[steady.id].recent, rows[steady.id].never,
            rows[steady.id].coverage) == (4, 1, 2, 25)
    assert (rows[idle.id].members, rows[idle.id].coverage) == (0, None)
    assert overview.teams_without_cadre == ["没人管班组"]
    assert [r.officer_id for r in overview.over_limit] == [busy.id]
    assert (overview.members, overview.recent, overview.never) == (105, 1, 103)
    async with officer_client(app, chair.phone) as oc:
        page = (await oc.get("/officer/care")).text
        assert f"{busy.name} 联系 101 人，超过 100 人，请调整。" in page
        assert "班组“没人管班组”没有工会干部。" in page
        assert "25%" in page
        # The chair opens one cadre's list; a cadre of another project is not there.
        one = await oc.get(f"/officer/care?cadre={steady.id}")
        assert f"{steady.name} 联系的工友（4）" in one.text
        foreign = await Officer.get(phone="13900000011")
        assert (await oc.get(f"/officer/care?cadre={foreign.id}")).status_code == 404
    # A cadre sees only their own list, whatever they ask for.
    async with officer_client(app, steady.phone) as oc:
        page = (await oc.get(f"/officer/care?cadre={busy.id}")).text
        assert "我联系的工友（4）" in page


async def test_a_project_without_cadres_is_flagged(app: Any) -> None:
    node, _, chair = await project("care-nocadre", cadres=0)
    await make_member(app, node.code)  # goes to the chair, standing in
    overview = await care.overview(node)
    assert overview.no_cadre and overview.members == 1
    assert [(r.officer_id, r.active) for r in overview.cadres] == [(chair.id, False)]
    async with officer_client(app, chair.phone) as oc:
        page = (await oc.get("/officer/care")).text
    assert "本项目还没有工会干部" in page


async def test_fifty_cadres_in_one_table(app: Any) -> None:
    node, staff, chair = await project("care-fifty", cadres=50)
    for cadre in staff:
        await bulk_members(node, cadre, 3)
    overview = await care.overview(node)
    assert len([r for r in overview.cadres if r.active]) == 50 and overview.members == 150
    async with officer_client(app, chair.phone) as oc:
        await oc.get("/officer/care")
        started = time.perf_counter()
        page = await oc.get("/officer/care")
        took = time.perf_counter() - started
    assert page.status_code == 200 and page.text.count("/officer/care?cadre=") == 50
    assert took < 2.0, took


async def test_only_chairs_and_cadres_of_a_project(app: Any) -> None:
    for phone in ("13900000019", "13900000002"):
        async with officer_client(app, phone) as oc:
            assert (await oc.get("/officer/care")).status_code in {403, 404}
    async with new_client(app) as anonymous:
        response = await anonymous.get("/officer/care")
        assert response.status_code == 303


async def test_care_pages_in_english(app: Any) -> None:
    node, (cadre,), chair = await project("care-en")
    await make_member(app, node.code)
    for phone in (cadre.phone, chair.phone):
        async with officer_client(app, phone) as oc:
            oc.headers["Accept-Language"] = "en"
            page = await oc.get("/officer/care")
            assert page.status_code == 200
            body = page.text.split("<main", 1)[1].split("</main>", 1)[0]
            visible = re.sub(r"<[^>]+>", " ", body)
            for name in (node.name, cadre.name, chair.name, "工友", "李建国"):
                visible = visible.replace(name, "")
            assert not re.search(r"[\u4e00-\u9fff]", visible), visible
