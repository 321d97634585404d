"""Joining from the QR invite: validation, idempotency, duplicates, approval, liaison."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from server.models import Member, MemberClaim, MemberStatus, Officer, Team, UnionNode
from server.services.demo import ensure_node
from server.services.invites import get_or_create_invite
from tests.conftest import csrf_of, enrol, enrolment_form, fresh_phone, join_path, new_client

VALID_ID = "11010519491231002X"  # the GB 11643 example number, checksum X


async def test_join_form_shows_project_and_fields(client: httpx.AsyncClient) -> None:
    response = await client.get(await join_path())
    assert response.status_code == 200
    assert "中建一局西柏梁项目工会联合会" in response.text
    for field in ("name", "phone", "trade", "team", "employer", "hometown", "id_number",
                  "consent", "client_id"):
        assert f'name="{field}"' in response.text
    assert 'lang="zh-Hans"' in response.text


async def test_unknown_invite_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/join/nope-not-a-token")
    assert response.status_code == 404
    assert "找不到页面" in response.text


async def test_errors_in_chinese_keep_typed_values(client: httpx.AsyncClient) -> None:
    response, form = await enrol(client, name="李四<b>", phone="12345",
                                 id_number="110105194912310021", consent="")
    assert response.status_code == 422
    text = response.text
    assert "手机号应为 11 位数字，以 1 开头" in text
    assert "身份证号校验位不对" in text
    assert "请阅读并同意个人信息保护说明" in text
    assert 'value="李四&lt;b&gt;"' in text
    assert 'value="12345"' in text
    assert 'value="110105194912310021"' in text
    assert form["client_id"] in text
    assert not await Member.exists(client_id=form["client_id"])


async def test_join_auto_approved_gets_number_and_liaison(client: httpx.AsyncClient) -> None:
    response, form = await enrol(client, id_number=VALID_ID)
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    member = await Member.get(client_id=form["client_id"]).select_related("liaison")
    assert member.status == MemberStatus.ACTIVE
    assert member.member_no and member.member_no.startswith("LX")
    assert member.liaison is not None and member.liaison.role == "cadre"
    # The ID number is stored encrypted, with only a masked copy in clear.
    assert member.id_number_enc and VALID_ID not in member.id_number_enc
    assert member.id_number_masked == "110***********002X"
    me = await client.get("/me")
    assert "已入会" in me.text and member.member_no in me.text


async def test_same_client_id_twice_is_one_member(client: httpx.AsyncClient) -> None:
    first, form = await enrol(client, "chuangxingang")
    # The sign-in gave the phone a new CSRF token; the outbox replays a queued form with the
    # token of the page it sends from (base.html's meta), not the one saved with the form.
    me = (await client.get("/me")).text
    form["csrf_token"] = me.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    second = await client.post(await join_path("chuangxingang"), data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert await Member.filter(client_id=form["client_id"]).count() == 1
    assert await Member.filter(phone=form["phone"]).count() == 1


async def test_no_js_post_without_client_id_still_works(client: httpx.AsyncClient) -> None:
    response, form = await enrol(client, client_id="")
    assert response.status_code == 303
    assert await Member.filter(phone=form["phone"]).count() == 1


async def test_same_phone_same_project_goes_to_cadre_review(client: httpx.AsyncClient) -> None:
    """A second form for a member's phone answers like a new application (no "already
    registered" oracle), signs its sender in as nobody, and waits for a cadre."""
    phone = fresh_phone()
    first, _ = await enrol(client, phone=phone)
    assert first.status_code == 303
    async with new_client(client._transport.app) as other:  # type: ignore[attr-defined]
        second, form = await enrol(other, phone=phone, name="另一个人")
        assert second.status_code == first.status_code
        assert second.headers["location"] == first.headers["location"]
        assert "已经在本项目登记过了" not in second.text
        assert (await other.get("/me")).status_code == 403
    member = await Member.get(phone=phone)
    assert member.name == "王小明"
    claim = await MemberClaim.get(client_id=form["client_id"])
    assert claim.member_id == member.id and claim.name == "另一个人"  # type: ignore[attr-defined]
    assert await Member.filter(phone=phone).count() == 1


async def test_same_phone_other_project_from_another_phone_is_a_claim(
        client: httpx.AsyncClient) -> None:
    """A member is in one project at a time, and only their own phone moves them (see
    tests/test_moves.py): a form for the number from anybody else is answered like a new
    application and waits for the member's own cadres, saying where it wanted to go."""
    phone = fresh_phone()
    a, _ = await enrol(client, "xibailiang", phone=phone)
    async with new_client(client._transport.app) as other:  # type: ignore[attr-defined]
        b, form = await enrol(other, "chuangxingang", phone=phone)
        assert (await other.get("/me")).status_code == 403
    assert a.status_code == b.status_code == 303
    assert a.headers["location"] == b.headers["location"]
    member = await Member.get(phone=phone).select_related("project")
    assert member.project.code == "xibailiang"
    claim = await MemberClaim.get(client_id=form["client_id"]).select_related("project")
    assert claim.member_id == member.id  # type: ignore[attr-defined]
    assert claim.project is not None and claim.project.code == "chuangxingang"


async def test_pending_project_waits_for_cadre(client: httpx.AsyncClient) -> None:
    response, form = await enrol(client, "chuangxingang")
    assert response.status_code == 303
    member = await Member.get(client_id=form["client_id"])
    assert member.status == MemberStatus.PENDING and member.member_no is None
    me = await client.get("/me")
    assert "等待工会干部确认" in me.text
    card = await client.get("/me/card")
    assert card.status_code == 303


async def test_other_trade_and_team(client: httpx.AsyncClient) -> None:
    team = await Team.get(project__code="xibailiang", name="木工班组")
    response, form = await enrol(client, trade="other", trade_other="幕墙安装工",
                                 team=str(team.id))
    assert response.status_code == 303
    member = await Member.get(client_id=form["client_id"]).select_related("liaison")
    assert member.trade == "幕墙安装工" and member.team_id == team.id  # type: ignore[attr-defined]
    # Same team first: the木工 team's cadre is the liaison.
    assert member.liaison is not None and member.liaison.team_id == team.id  # type: ignore[attr-defined]


async def test_team_of_another_project_is_refused(client: httpx.AsyncClient) -> None:
    foreign = await Team.get(project__code="chuangxingang", name="机电安装班组")
    response, form = await enrol(client, team=str(foreign.id))
    assert response.status_code == 422
    assert "选项无效" in response.text
    assert not await Member.exists(client_id=form["client_id"])


async def test_least_loaded_cadre_gets_new_members(client: httpx.AsyncClient) -> None:
    project = await ensure_node("loadtest", "负载测试项目", "project", "cscec1-xibei", True)
    cadres = []
    for i in range(2):
        cadres.append(await Officer.create(phone=f"1370000{i:04d}", name=f"干部{i}",
                                           role="cadre", union=project, password_hash="x"))
    invite = await get_or_create_invite("loadtest")
    for _ in range(6):
        async with new_client(client._transport.app) as c:  # type: ignore[attr-defined]
            page = await c.get(f"/join/{invite.token}")
            form = enrolment_form(csrf_token=csrf_of(page.text))
            assert (await c.post(f"/join/{invite.token}", data=form)).status_code == 303
    loads = [await Member.filter(liaison=c).count() for c in cadres]
    assert loads == [3, 3]


async def test_liaison_choice_rules(client: httpx.AsyncClient) -> None:
    """Own team first (even when busier), then the least loaded, ties to the oldest cadre;
    inactive cadres never; a project with no cadre links to its chair."""
    from server.services.membership import choose_liaison_id

    project = await ensure_node("liaisonrules", "联络规则项目", "project", "cscec1-xibei", True)
    team = await Team.create(project=project, name="钢筋班组")
    busy_same_team = await Officer.create(phone="13700010001", name="同班组干部", role="cadre",
                                          union=project, team=team, password_hash="x")
    idle = await Officer.create(phone="13700010002", name="空闲干部", role="cadre",
                                union=project, password_hash="x")
    await Officer.create(phone="13700010003", name="停用干部", role="cadre", union=project,
                         password_hash="x", active=False)
    for i in range(2):
        await Member.create(client_id=uuid.uuid4(), project=project, phone=f"1390001{i:04d}",
                            name="工友", trade="木工", status="active", liaison=busy_same_team)
    assert await choose_liaison_id(project.id, team.id) == busy_same_team.id
    assert await choose_liaison_id(project.id, None) == idle.id
    twin = await Officer.create(phone="13700010004", name="另一空闲干部", role="cadre",
                                union=project, password_hash="x")
    assert await choose_liaison_id(project.id, None) == idle.id  # tie: the older one
    await Member.create(client_id=uuid.uuid4(), project=project, phone="13900019999",
                        name="工友", trade="木工", status="active", liaison=idle)
    assert await choose_liaison_id(project.id, None) == twin.id
    # A project with no cadre yet: its chair.
    empty = await ensure_node("liaisonchair", "只有主席的项目", "project", "cscec1-xibei", True)
    assert await choose_liaison_id(empty.id, None) is None
    chair = await Officer.create(phone="13700010005", name="主席", role="chair", union=empty,
                                 password_hash="x")
    assert await choose_liaison_id(empty.id, None) == chair.id


@pytest.mark.timeout(240)
async def test_200_concurrent_enrolments(client: httpx.AsyncClient) -> None:
    project = await ensure_node("burst", "集中入会测试项目", "project", "cscec1-xibei", True)
    invite = await get_or_create_invite("burst")
    app = client._transport.app  # type: ignore[attr-defined]
    path = f"/join/{invite.token}"

    async def one() -> int:
        async with new_client(app) as c:
            page = await c.get(path)
            form = enrolment_form(csrf_token=csrf_of(page.text))
            return (await c.post(path, data=form)).status_code

    statuses = await asyncio.gather(*(one() for _ in range(200)))
    assert statuses.count(303) == 200, sorted(set(statuses))
    members = await Member.filter(project=project)
    assert len(members) == 200
    numbers = {m.member_no for m in members}
    assert len(numbers) == 200 and None not in numbers
    assert (await UnionNode.get(id=project.id)).member_seq == 200


async def test_concurrent_replays_of_one_client_id(client: httpx.AsyncClient) -> None:
    """The outbox and the page may both send the same form at once: one member."""
    path = await join_path("chuangxingang")
    page = await client.get(path)
    form = enrolment_form(csrf_token=csrf_of(page.text), client_id=str(uuid.uuid4()))
    statuses = await asyncio.gather(*(client.post(path, data=form) for _ in range(10)))
    assert all(s.status_code == 303 for s in statuses)
    assert await Member.filter(client_id=form["client_id"]).count() == 1


async def test_join_form_rendered_once_is_still_each_visitors_own(
        client: httpx.AsyncClient) -> None:
    """The join form is rendered once per language for all anonymous visitors: each still
    gets their own CSRF token (and it works), and the language is not mixed up."""
    from server.web.templating import CSRF_SLOT

    path = await join_path("xibailiang")
    app = client._transport.app  # type: ignore[attr-defined]
    pages = {}
    for lang in ("zh-CN", "en", "zh-CN"):
        async with new_client(app) as c:
            page = await c.get(path, headers={"Accept-Language": lang})
            assert CSRF_SLOT not in page.text
            token = csrf_of(page.text)
            assert page.text.count(token) == 3  # meta, htmx headers, the form
            pages.setdefault(lang, []).append(token)
            form = enrolment_form(csrf_token=token)
            assert (await c.post(path, data=form)).status_code == 303
            assert ("加入工会" in page.text) == (lang == "zh-CN")
    assert len(set(pages["zh-CN"])) == 2
