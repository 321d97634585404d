"""Members who move to another project (keeping number, card and history, one project at a
time, only by their own phone) and members who leave (离场) by themselves or by their cadre."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from server.app import create_app
from server.models import (
    AuditEntry,
    Member,
    MemberClaim,
    MemberMove,
    MemberStatus,
    MoveKind,
    NodeKind,
    Officer,
    Role,
    ServiceRequest,
    Status,
    Team,
    UnionNode,
)
from server.services import cards, membership, moves
from server.services.demo import DEMO_PASSWORD, ensure_node
from server.services.officers import add_officer
from tests.conftest import (
    csrf_of,
    enrol,
    enrolment_form,
    forget_process_caches,
    fresh_phone,
    join_path,
    new_client,
    settings_for,
)
from tests.factories import make_member, make_request, member_client, officer_client


@pytest.fixture(scope="module")
async def app(db_url: str, tmp_root: Path) -> AsyncIterator[Any]:
    """This module's app, with room for forty join forms for one phone: the concurrency
    tests are about the database holding one member, not about the per-phone limit (which
    tests/test_limits.py covers)."""
    forget_process_caches()
    application = create_app(settings_for(db_url, tmp_root, LIANXIN_JOIN_MAX_PER_PHONE="200"))
    async with LifespanManager(application):
        yield application
    forget_process_caches()


class Site:
    def __init__(self, project: UnionNode, cadre: Officer, chair: Officer) -> None:
        self.project, self.cadre, self.chair = project, cadre, chair


async def site(code: str, *, auto: bool = True) -> Site:
    """A project of this test's own, with one cadre and a chair (nobody else's members)."""
    project = await ensure_node(code, f"{code}项目工会", NodeKind.PROJECT, "cscec1-xibei", auto)
    cadre = await add_officer(phone=fresh_phone(), name=f"{code} 干部", role=Role.CADRE,
                              union_code=code, password=DEMO_PASSWORD)
    chair = await add_officer(phone=fresh_phone(), name=f"{code} 主席", role=Role.CHAIR,
                              union_code=code, password=DEMO_PASSWORD)
    return Site(project, cadre, chair)


async def join_form(c: httpx.AsyncClient, code: str, member: Member | None = None,
                    **overrides: str) -> tuple[str, dict[str, str], str]:
    """The poster's form as this phone sees it, filled in as the worker would send it."""
    path = await join_path(code)
    page = await c.get(path)
    assert page.status_code == 200
    own = {"name": member.name, "phone": member.phone} if member else {}
    form = enrolment_form(**{**own, **overrides})
    form["csrf_token"] = csrf_of(page.text)
    return path, form, page.text


async def fresh(member: Member) -> Member:
    return await Member.get(id=member.id).select_related("project", "team", "liaison")


# --- moving ----------------------------------------------------------------------------------

async def test_move_keeps_number_card_and_history(app: Any) -> None:
    a, b = await site("mv-keep-a"), await site("mv-keep-b")
    member = await make_member(app, a.project.code)
    number = member.member_no
    old = await make_request(member)
    async with member_client(app, member) as c:
        # The card on the phone (signed over the phone's epoch, which the sign-in bumped).
        card = cards.card_token(app.state.keyring, await fresh(member),
                                datetime.now(UTC) + timedelta(days=30))
        path, form, page = await join_form(c, b.project.code, member)
        assert f"会员号 {number} 不变" in page and a.project.name in page
        assert f'value="{member.phone}"' in page  # filled in with what they gave before
        response = await c.post(path, data=form)
        assert response.status_code == 303 and response.headers["location"] == "/me"
        me = await c.get("/me")
        assert b.project.name in me.text and str(number) in me.text
        # The old request is still theirs to read, in the list and on its own page.
        listing = (await c.get("/requests")).text
        assert f"/requests/{old.id}" in listing and a.project.name in listing
        assert (await c.get(f"/requests/{old.id}")).status_code == 200
    moved = await fresh(member)
    assert (moved.project.id, moved.member_no, moved.status) == (
        b.project.id, number, MemberStatus.ACTIVE)
    assert moved.liaison is not None and moved.liaison.id == b.cadre.id
    assert moved.last_contact_at is None  # the new site's cadre has not been in touch yet
    assert await Member.filter(phone=member.phone).count() == 1
    move = await MemberMove.get(member_id=member.id)
    assert (move.kind, move.from_project_id, move.to_project_id, move.from_status) == (  # type: ignore[attr-defined]
        MoveKind.MOVED, a.project.id, b.project.id, MemberStatus.ACTIVE)
    assert move.started_at == member.joined_at and move.client_id == uuid.UUID(form["client_id"])
    # The old request stays with the old project and its officer; a new one goes to the new.
    assert (await ServiceRequest.get(id=old.id)).project_id == a.project.id  # type: ignore[attr-defined]
    new = await make_request(moved)
    assert (new.project_id, new.assignee_id) == (b.project.id, b.cadre.id)
    async with officer_client(app, a.cadre.phone) as oc:
        assert (await oc.get(f"/officer/requests/{old.id}")).status_code == 200
        assert (await oc.get(f"/officer/members/{member.id}")).status_code == 404
        check = await oc.get(f"/officer/card?t={card}")
        assert "李建国" not in check.text  # no longer theirs to identify
    async with officer_client(app, b.chair.phone) as oc:
        assert (await oc.get(f"/officer/members/{member.id}")).status_code == 200
        assert (await oc.get(f"/officer/requests/{old.id}")).status_code == 404
        # The card issued before the move is still the member's card.
        check = await oc.get(f"/officer/card?t={card}")
        assert "李建国" in check.text and str(number) in check.text
    # Counts: the old project's active members dropped, the new one's rose.
    assert await Member.filter(project=a.project, status=MemberStatus.ACTIVE).count() == 0
    assert await Member.filter(project=b.project, status=MemberStatus.ACTIVE).count() == 1
    loads = {cl.cadre.id: cl.load for cl in await membership.cadre_loads(a.project)}
    assert loads[a.cadre.id] == 0


async def test_move_goes_through_the_new_projects_approval(app: Any) -> None:
    a, b = await site("mv-appr-a"), await site("mv-appr-b", auto=False)
    member = await make_member(app, a.project.code)
    number = member.member_no
    before = datetime.now(UTC)
    async with member_client(app, member) as c:
        path, form, page = await join_form(c, b.project.code, member)
        assert "本项目的入会申请要工会干部确认" in page
        assert (await c.post(path, data=form)).status_code == 303
        pending = await fresh(member)
        assert (pending.status, pending.member_no, pending.liaison) == (
            MemberStatus.PENDING, number, None)
        me = await c.get("/me")
        assert "等待工会干部确认" in me.text and f"会员号 {number} 保留" in me.text
        filing = await c.get("/requests/new")
        assert "入会申请通过后才能提交诉求" in filing.text
        between = datetime.now(UTC)
        async with officer_client(app, b.cadre.phone) as oc:
            listing = await oc.get("/officer/pending")
            assert f"从其他项目转来，会员号 {number} 保留" in listing.text
            page = await oc.get("/officer/pending")
            approved = await oc.post(f"/officer/members/{member.id}/approve",
                                     data={"csrf_token": csrf_of(page.text)})
            assert approved.status_code == 303
    active = await fresh(member)
    assert (active.status, active.member_no) == (MemberStatus.ACTIVE, number)
    assert active.liaison is not None and active.liaison.id == b.cadre.id
    assert active.project_since is not None and active.project_since > between
    # Figures over time: the old project had them until the move, the new one from approval.
    assert await moves.active_members_at(a.project.id, before) == 1
    assert await moves.active_members_at(a.project.id, datetime.now(UTC)) == 0
    assert await moves.active_members_at(b.project.id, between) == 0
    assert await moves.active_members_at(b.project.id, datetime.now(UTC)) == 1


async def test_a_stranger_with_the_phone_number_cannot_move_the_member(app: Any) -> None:
    a, b = await site("mv-stranger-a"), await site("mv-stranger-b")
    member = await make_member(app, a.project.code)
    other = await make_member(app, a.project.code, name="另一个工友")
    # Nobody signed in: answered like any application, signs nobody in, moves nobody.
    async with new_client(app) as stranger:
        path, form, _ = await join_form(stranger, b.project.code, phone=member.phone,
                                        name="冒名的人")
        response = await stranger.post(path, data=form)
        assert response.status_code == 303 and response.headers["location"] == "/me"
        assert (await stranger.get("/me")).status_code == 403
    claim = await MemberClaim.get(client_id=form["client_id"])
    assert claim.member_id == member.id and claim.project_id == b.project.id  # type: ignore[attr-defined]
    # Signed in as a member, but as another one: their own session proves nothing here.
    async with member_client(app, other) as c:
        path, form, _ = await join_form(c, b.project.code, phone=member.phone, name="冒名的人")
        assert (await c.post(path, data=form)).status_code == 303
        assert "另一个工友" in (await c.get("/me")).text
    assert (await fresh(member)).project.id == a.project.id
    assert (await fresh(other)).project.id == a.project.id
    assert await Member.filter(phone=member.phone).count() == 1
    assert not await MemberMove.exists(member_id=member.id)
    # The member's own cadre sees the claims, saying where the sender wanted to go.
    async with officer_client(app, a.cadre.phone) as oc:
        pending = await oc.get("/officer/pending")
        assert f"想转到：{b.project.name}" in pending.text
        # The real worker on a new phone: a re-bind code from their cadre, then the move.
        page = await oc.get(f"/officer/members/{member.id}")
        issued = await oc.post(f"/officer/members/{member.id}/rebind",
                               data={"csrf_token": csrf_of(page.text)})
        code = re.search(r"<strong>(\d{8})</strong>", issued.text)
        assert code is not None
    async with new_client(app) as phone:
        page = await phone.get("/me/rebind")
        redeemed = await phone.post("/me/rebind", data={
            "csrf_token": csrf_of(page.text), "phone": member.phone, "code": code.group(1)})
        assert redeemed.status_code == 303
        path, form, _ = await join_form(phone, b.project.code, member)
        assert (await phone.post(path, data=form)).status_code == 303
    assert (await fresh(member)).project.id == b.project.id


async def test_a_phone_elsewhere_is_refused_to_an_officer_enrolling_for_it(app: Any) -> None:
    a, b = await site("mv-assist-a"), await site("mv-assist-b")
    member = await make_member(app, a.project.code)
    async with officer_client(app, b.cadre.phone) as oc:
        page = await oc.get("/officer/enrol")
        form = enrolment_form(phone=member.phone, csrf_token=csrf_of(page.text))
        response = await oc.post("/officer/enrol", data=form)
    assert response.status_code == 409
    assert "这个手机号是别的项目的会员" in response.text and member.name not in response.text
    assert (await fresh(member)).project.id == a.project.id


async def test_a_resent_move_form_moves_once(app: Any) -> None:
    a, b = await site("mv-resend-a"), await site("mv-resend-b")
    member = await make_member(app, a.project.code)
    async with member_client(app, member) as c:
        path, form, _ = await join_form(c, b.project.code, member)
        first = await c.post(path, data=form)
        again = await c.post(path, data=form)
        assert first.status_code == again.status_code == 303
        # The same form sent to the project they came from is not a way back.
        back = await join_path(a.project.code)
        reused = await c.post(back, data=form)
        assert reused.status_code == 422
    assert await MemberMove.filter(member_id=member.id).count() == 1
    assert (await fresh(member)).project.id == b.project.id


@pytest.mark.timeout(240)
async def test_forty_joins_for_one_new_phone_at_two_projects(app: Any) -> None:
    """Twenty phones at each of two posters send the same number at once: one member, in
    one project; every other form is a claim, answered the same way."""
    p, q = await site("mv-race-p"), await site("mv-race-q")
    phone = fresh_phone()

    async def one(code: str) -> int:
        async with new_client(app) as c:
            path, form, _ = await join_form(c, code, phone=phone)
            return (await c.post(path, data=form)).status_code

    codes = [p.project.code, q.project.code] * 20
    statuses = await asyncio.gather(*(one(code) for code in codes))
    assert statuses == [303] * 40
    members = await Member.filter(phone=phone)
    assert len(members) == 1
    assert members[0].project_id in {p.project.id, q.project.id}  # type: ignore[attr-defined]
    assert members[0].status == MemberStatus.ACTIVE
    assert await MemberClaim.filter(member_id=members[0].id).count() == 39


@pytest.mark.timeout(240)
async def test_forty_moves_of_one_member_at_once(app: Any) -> None:
    """The member's own phone sends forty join forms at once, half to each of two other
    projects: the member ends in one of them, still one row with one number, and the moves
    on record form one unbroken chain from where they were to where they are."""
    a, p, q = await site("mv-burst-a"), await site("mv-burst-p"), await site("mv-burst-q")
    member = await make_member(app, a.project.code)
    number = member.member_no
    async with member_client(app, member) as c:
        forms = []
        for code in [p.project.code, q.project.code] * 20:
            path, form, _ = await join_form(c, code, member)
            forms.append((path, form))
        statuses = await asyncio.gather(*(c.post(path, data=form) for path, form in forms))
        assert [r.status_code for r in statuses] == [303] * 40
        assert (await c.get("/me")).status_code == 200  # still signed in
    rows = await Member.filter(phone=member.phone)
    assert len(rows) == 1 and rows[0].member_no == number
    assert rows[0].project_id in {p.project.id, q.project.id}  # type: ignore[attr-defined]
    assert rows[0].status == MemberStatus.ACTIVE
    chain = await MemberMove.filter(member_id=member.id).order_by("id")
    assert 1 <= len(chain) <= 40
    where = a.project.id
    for move in chain:
        assert move.from_project_id == where  # type: ignore[attr-defined]
        assert move.to_project_id != where  # type: ignore[attr-defined]
        where = move.to_project_id  # type: ignore[attr-defined]
    assert where == rows[0].project_id  # type: ignore[attr-defined]
    # One liaison, in the project they ended in; loads elsewhere are back to nothing.
    for s in (a, p, q):
        loads = {cl.cadre.id: cl.load for cl in await membership.cadre_loads(s.project)}
        assert loads[s.cadre.id] == (1 if s.project.id == where else 0)


# --- leaving ---------------------------------------------------------------------------------

async def test_leaving_by_oneself_after_a_confirmation(app: Any) -> None:
    a = await site("lv-self")
    member = await make_member(app, a.project.code)
    number = member.member_no
    open_request = await make_request(member)
    async with member_client(app, member) as c:
        assert "/me/leave" in (await c.get("/me")).text
        page = await c.get("/me/leave")
        assert "确认离场" in page.text and str(number) in page.text
        # Without the confirming field, nothing happens.
        unconfirmed = await c.post("/me/leave", data={"csrf_token": csrf_of(page.text)})
        assert unconfirmed.headers["location"] == "/me/leave"
        assert (await fresh(member)).status == MemberStatus.ACTIVE
        left = await c.post("/me/leave", data={"csrf_token": csrf_of(page.text),
                                               "confirm": "yes"})
        assert left.status_code == 303
        # Still signed in: the worker reads what they filed and follows up what is open.
        me = await c.get("/me")
        assert me.status_code == 200 and "已离场" in me.text and str(number) in me.text
        listing = (await c.get("/requests")).text
        assert f"/requests/{open_request.id}" in listing and "反映新问题" not in listing
        detail = await c.get(f"/requests/{open_request.id}")
        assert detail.status_code == 200
        reply = await c.post(f"/requests/{open_request.id}/worker_reply", data={
            "csrf_token": csrf_of(detail.text), "note": "我已经离开工地了，工资还没结",
            "client_id": str(uuid.uuid4())})
        assert reply.status_code == 303
        # No new requests, no card, no notices.
        form = await c.get("/requests/new")
        assert "你已离场，不能再提交新的诉求" in form.text
        refused = await c.post("/requests/new", data={
            "csrf_token": csrf_of(detail.text), "category": "wages", "description": "新问题",
            "client_id": str(uuid.uuid4())})
        assert refused.status_code == 409 and "你已离场" in refused.text
        assert (await c.get("/me/card")).status_code == 303
    gone = await fresh(member)
    assert gone.status == MemberStatus.LEFT and gone.left_at is not None
    assert gone.member_no == number
    request = await ServiceRequest.get(id=open_request.id)
    assert request.status == Status.SUBMITTED and request.assignee_id == a.cadre.id  # type: ignore[attr-defined]
    move = await MemberMove.get(member_id=member.id)
    assert (move.kind, move.by_officer_id, move.to_project_id) == (MoveKind.LEFT, None, None)  # type: ignore[attr-defined]
    assert await Member.filter(project=a.project, status=MemberStatus.ACTIVE).count() == 0
    # The cadre still has the open request in their queue.
    async with officer_client(app, a.cadre.phone) as oc:
        assert f"/officer/requests/{open_request.id}" in (await oc.get("/officer/requests")).text


async def test_coming_back_after_leaving_keeps_the_number(app: Any) -> None:
    a = await site("lv-back")
    member = await make_member(app, a.project.code)
    number = member.member_no
    await moves.leave(member)
    async with member_client(app, member) as c:
        path, form, page = await join_form(c, a.project.code, member)
        assert "欢迎回来" in page
        assert (await c.post(path, data=form)).status_code == 303
    back = await fresh(member)
    assert (back.status, back.member_no, back.project.id) == (
        MemberStatus.ACTIVE, number, a.project.id)
    assert back.left_at is None and back.liaison is not None
    kinds = await MemberMove.filter(member_id=member.id).order_by("id").values_list(
        "kind", flat=True)
    assert kinds == [MoveKind.LEFT, MoveKind.REJOINED]


async def test_left_phone_from_another_device_does_not_open_the_record(app: Any) -> None:
    """A number whose member left is not proof either: the form from another phone does
    not hand over the record (its requests), it waits for the project's cadres."""
    a = await site("lv-recycled")
    member = await make_member(app, a.project.code)
    await make_request(member)
    await moves.leave(member)
    async with new_client(app) as stranger:
        response, form = await enrol(stranger, a.project.code, phone=member.phone,
                                     name="新号主")
        assert response.status_code == 303
        assert (await stranger.get("/me")).status_code == 403
    kept = await fresh(member)
    assert kept.status == MemberStatus.LEFT and kept.name == member.name
    assert await MemberClaim.exists(client_id=form["client_id"], member_id=member.id)


async def test_cadre_marks_a_member_left_with_a_reason(app: Any) -> None:
    a = await site("lv-cadre")
    other_cadre = await add_officer(phone=fresh_phone(), name="lv-cadre 另一干部",
                                    role=Role.CADRE, union_code=a.project.code,
                                    password=DEMO_PASSWORD)
    member = await make_member(app, a.project.code)
    second = await make_member(app, a.project.code, name="第二个工友")
    assert member.liaison_id == a.cadre.id  # type: ignore[attr-defined]
    open_request = await make_request(member)

    async def mark(phone: str, who: Member, reason: str) -> httpx.Response:
        async with officer_client(app, phone) as oc:
            page = await oc.get(f"/officer/members/{who.id}")
            return await oc.post(f"/officer/members/{who.id}/leave",
                                 data={"csrf_token": csrf_of(page.text), "reason": reason})

    # Another cadre's member is not theirs to mark; a reason is required.
    assert (await mark(other_cadre.phone, member, "完工")).status_code == 403
    missing = await mark(a.cadre.phone, member, " ")
    assert missing.status_code == 422 and "请填写“离场原因”" in missing.text
    assert (await fresh(member)).status == MemberStatus.ACTIVE
    done = await mark(a.cadre.phone, member, "主体完工，班组撤场")
    assert done.status_code == 303
    gone = await fresh(member)
    assert gone.status == MemberStatus.LEFT
    move = await MemberMove.get(member_id=member.id)
    assert move.by_officer_id == a.cadre.id and move.reason == "主体完工，班组撤场"  # type: ignore[attr-defined]
    entry = await AuditEntry.get(action="member.left", target_id=member.id)
    assert entry.actor_id == a.cadre.id and entry.detail["reason"] == "主体完工，班组撤场"  # type: ignore[attr-defined]
    # Twice is refused, not recorded twice; the chair may mark any member of the project.
    assert (await mark(a.cadre.phone, member, "又一次")).status_code == 409
    assert (await mark(a.chair.phone, second, "回老家了")).status_code == 303
    assert await MemberMove.filter(member_id=member.id).count() == 1
    # The open request carries on with the same officer; the counts dropped.
    request = await ServiceRequest.get(id=open_request.id)
    assert request.status == Status.SUBMITTED and request.assignee_id == a.cadre.id  # type: ignore[attr-defined]
    assert await Member.filter(project=a.project, status=MemberStatus.ACTIVE).count() == 0
    async with officer_client(app, a.chair.phone) as oc:
        page = await oc.get(f"/officer/members/{member.id}")
        assert "主体完工，班组撤场" in page.text and "已离场" in page.text
        listing = await oc.get("/officer/members?status=left")
        assert member.name in listing.text and second.name in listing.text


async def test_managers_and_the_upper_union_cannot_mark_anyone_left(app: Any) -> None:
    member = await make_member(app)
    for phone in ("13900000019", "13900000002"):
        async with officer_client(app, phone) as oc:
            page = await oc.get("/officer")
            response = await oc.post(f"/officer/members/{member.id}/leave",
                                     data={"csrf_token": csrf_of(page.text), "reason": "x"})
            assert response.status_code == 403
    assert (await fresh(member)).status == MemberStatus.ACTIVE


async def test_a_legacy_duplicate_row_blocks_a_move_cleanly(app: Any) -> None:
    """A phone with a second row at the target project (kept from before moves were
    recorded) is not merged behind anybody's back: the move is refused with a message."""
    a, b = await site("mv-dup-a"), await site("mv-dup-b")
    member = await make_member(app, a.project.code)
    await Member.create(client_id=uuid.uuid4(), project=b.project, phone=member.phone,
                        name="旧记录", trade="木工", status=MemberStatus.LEFT)
    async with member_client(app, member) as c:
        path, form, _ = await join_form(c, b.project.code, member)
        response = await c.post(path, data=form)
    assert response.status_code == 409 and "另一份登记" in response.text
    assert (await fresh(member)).project.id == a.project.id
    assert not await MemberMove.exists(member_id=member.id)


async def test_move_pages_in_english(app: Any) -> None:
    a, b = await site("mv-en-a"), await site("mv-en-b", auto=False)
    member = await make_member(app, a.project.code)
    async with member_client(app, member) as c:
        c.headers["Accept-Language"] = "en"
        page = await c.get(await join_path(b.project.code))
        assert "keeps" in page.text.lower() or "move" in page.text.lower()
        leave = await c.get("/me/leave")
        assert "Confirm" in leave.text
        assert not re.search(r"[\u4e00-\u9fff]{4,}", _visible(leave.text).replace(
            member.name, "").replace(a.project.name, ""))


def _visible(html: str) -> str:
    body = html.split("<main", 1)[1].split("</main>", 1)[0]
    return re.sub(r"<[^>]+>", " ", body)


async def test_teams_of_the_new_project_only(app: Any) -> None:
    a, b = await site("mv-team-a"), await site("mv-team-b")
    await Team.create(project=b.project, name="新班组")
    foreign = await Team.create(project=a.project, name="老班组")
    member = await make_member(app, a.project.code)
    async with member_client(app, member) as c:
        path, form, _ = await join_form(c, b.project.code, member, team=str(foreign.id))
        response = await c.post(path, data=form)
    assert response.status_code == 422
    assert (await fresh(member)).project.id == a.project.id


async def test_old_requests_do_not_show_the_new_sites_team(app: Any) -> None:
    a, b = await site("mv-teamname-a"), await site("mv-teamname-b")
    await Team.create(project=a.project, name="老工地钢筋班")
    new_team = await Team.create(project=b.project, name="新工地幕墙班")
    member = await make_member(app, a.project.code, team="老工地钢筋班")
    old = await make_request(member)
    async with officer_client(app, a.cadre.phone) as oc:
        assert "老工地钢筋班" in (await oc.get(f"/officer/requests/{old.id}")).text
    async with member_client(app, member) as c:
        path, form, _ = await join_form(c, b.project.code, member, team=str(new_team.id))
        assert (await c.post(path, data=form)).status_code == 303
    async with officer_client(app, a.cadre.phone) as oc:
        page = (await oc.get(f"/officer/requests/{old.id}")).text
        queue = (await oc.get("/officer/requests")).text
    assert member.name in page and "新工地幕墙班" not in page
    assert "新工地幕墙班" not in queue
