"""Every route against every kind of visitor: owner, other member, officers in and out of scope,
management and upper union (never identities), and an outsider."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from server.errors import DomainError
from server.models import AuditEntry, Member, MemberStatus, UnionNode
from server.passwords import hash_password
from tests.conftest import (
    ADMIN,
    CXG_CADRE,
    CXG_CHAIR,
    UPPER,
    XBL_CADRE,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    enrol,
    login,
    new_client,
)

OUTSIDER = "outsider"
OTHER_MEMBER = "other-member"
# A partner (外部协办) under the branch above both projects: nothing was referred to it, so
# every page with anyone's data is a 404 (tests/test_partners.py covers what it may read).
PARTNER = "13700012345"


async def ensure_partner() -> None:
    from server.models import Officer
    from server.services.officers import add_officer

    if not await Officer.exists(phone=PARTNER):
        await add_officer(phone=PARTNER, name="法律援助 律师", role="partner",
                          union_code="cscec1-xibei", password="lianxin-demo-2026",
                          partner={"organisation": "西安市法律援助中心",
                                   "partner_kind": "legal_aid"})


@contextlib.asynccontextmanager
async def visitor(app: object, who: str) -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app) as c:
        if who == OTHER_MEMBER:
            response, _ = await enrol(c, "chuangxingang")
            assert response.status_code == 303
        elif who != OUTSIDER:
            if who == PARTNER:
                await ensure_partner()
            await login(c, who)
        yield c


@pytest.fixture
async def xbl_member(app: object) -> tuple[Member, httpx.AsyncClient]:
    owner = new_client(app)
    response, form = await enrol(owner, "xibailiang", id_number="11010519491231002X")
    assert response.status_code == 303
    return await Member.get(client_id=form["client_id"]), owner


@pytest.mark.parametrize(("who", "expected"), [
    (OUTSIDER, 303), (OTHER_MEMBER, 303), (XBL_CADRE, 200), (XBL_CHAIR, 200), (ADMIN, 200),
    (CXG_CADRE, 404), (CXG_CHAIR, 404), (XBL_MANAGER, 403), (UPPER, 403), (PARTNER, 404),
])
async def test_member_record(app: object, xbl_member: tuple[Member, httpx.AsyncClient],
                             who: str, expected: int) -> None:
    member, _ = xbl_member
    async with visitor(app, who) as c:
        response = await c.get(f"/officer/members/{member.id}")
    assert response.status_code == expected
    # The full record shows the name and the full ID number, and the viewing is on the
    # record; a refusal shows neither and records nothing.
    shown = expected == 200
    assert (member.name in response.text) == shown
    assert ("11010519491231002X" in response.text) == shown
    assert await AuditEntry.filter(action="member.view", target_id=member.id).exists() == shown


@pytest.mark.parametrize(("who", "expected"), [
    (OUTSIDER, 303), (XBL_CADRE, 200), (XBL_CHAIR, 200), (ADMIN, 200),
    (XBL_MANAGER, 403), (UPPER, 403), (PARTNER, 404),
])
@pytest.mark.parametrize("path", ["/officer/pending", "/officer/members", "/officer/card"])
async def test_officer_lists(app: object, who: str, expected: int, path: str) -> None:
    async with visitor(app, who) as c:
        response = await c.get(path)
    assert response.status_code == expected
    assert response.headers.get("location", "").startswith("/officer/login?next=") == (
        expected == 303)
    # A list, or the refusal of one, is never kept by a browser or a proxy.
    assert response.headers.get("cache-control") == (None if expected == 303 else "no-store")


async def test_member_list_masks_and_scopes(app: object,
                                            xbl_member: tuple[Member, httpx.AsyncClient]) -> None:
    member, _ = xbl_member
    async with visitor(app, XBL_CADRE) as c:
        page = await c.get("/officer/members", params={"q": member.name, "status": "all"})
    assert member.phone not in page.text
    assert member.phone[:3] + "****" + member.phone[-4:] in page.text
    assert "110***********002X" in page.text
    liaison = await member.liaison  # type: ignore[misc]
    # the liaison cadre's name, not an id
    assert f'<td data-label="联络干部">{liaison.name}</td>' in page.text
    async with visitor(app, CXG_CADRE) as c:
        page = await c.get("/officer/members", params={"q": member.member_no, "status": "all"})
    assert "共 0 人" in page.text and f"/officer/members/{member.id}" not in page.text


@pytest.mark.parametrize(("who", "expected"), [
    (OUTSIDER, 303), (CXG_CADRE, 200), (CXG_CHAIR, 200), (XBL_CADRE, 404),
    (XBL_MANAGER, 403), (UPPER, 403),
])
async def test_approve(app: object, who: str, expected: int) -> None:
    async with new_client(app) as worker:
        _, form = await enrol(worker, "chuangxingang")
    member = await Member.get(client_id=form["client_id"])
    async with visitor(app, who) as c:
        page = await c.get("/officer/login") if who == OUTSIDER else await c.get("/officer")
        token = csrf_of(page.text)
        response = await c.post(f"/officer/members/{member.id}/approve",
                                data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert response.status_code == expected
    await member.refresh_from_db()
    approved = expected == 200
    assert (member.status == MemberStatus.ACTIVE) == approved
    assert ("已通过" in response.text and str(member.member_no) in response.text) == approved
    assert await AuditEntry.filter(action="member.approve",
                                   target_id=member.id).exists() == approved


async def test_reject_then_reapply(app: object) -> None:
    async with new_client(app) as worker:
        _, form = await enrol(worker, "chuangxingang")
        member = await Member.get(client_id=form["client_id"])
        async with visitor(app, CXG_CADRE) as cadre:
            token = csrf_of((await cadre.get("/officer/pending")).text)
            response = await cadre.post(f"/officer/members/{member.id}/reject",
                                        data={"csrf_token": token, "reason": "不是本项目工人"})
            assert response.status_code == 303
            again = await cadre.post(f"/officer/members/{member.id}/approve",
                                     data={"csrf_token": token}, headers={"HX-Request": "true"})
            assert "已经被处理过了" in again.text
        me = await worker.get("/me")
        assert "没有通过" in me.text and "不是本项目工人" in me.text
        # Applying again with the same phone reopens the same record for review.
        response, _ = await enrol(worker, "chuangxingang", phone=form["phone"])
        assert response.status_code == 303
    await member.refresh_from_db()
    assert member.status == MemberStatus.PENDING
    assert await Member.filter(phone=form["phone"]).count() == 1


async def test_member_pages(app: object, xbl_member: tuple[Member, httpx.AsyncClient]) -> None:
    member, owner = xbl_member
    card = await owner.get("/me/card")
    assert card.status_code == 200
    assert member.member_no in card.text and "<svg" in card.text
    async with new_client(app) as stranger:
        assert (await stranger.get("/me")).status_code == 403
        assert (await stranger.get("/me/card")).status_code == 403
        # A phone without the membership is told the way back, not a bare "not allowed":
        # the re-bind form (linked) for a member on a new phone, the poster for a newcomer.
        lost = await stranger.get("/me")
        assert "没有权限" not in lost.text and "这部手机上还没有会员身份" in lost.text
        assert 'href="/me/rebind"' in lost.text and "入会二维码" in lost.text
        assert (await stranger.get("/me", headers={"Accept": "application/json"})).json()[
            "message"].startswith("请先扫描")
    async with visitor(app, XBL_CADRE) as cadre:
        assert (await cadre.get("/me")).status_code == 403


async def test_card_check(app: object, xbl_member: tuple[Member, httpx.AsyncClient]) -> None:
    member, owner = xbl_member
    card = await owner.get("/me/card")
    # The QR encodes the check URL; the page prints nothing else with the token, so take it
    # from the signed token the service makes for this member.
    from server.services.cards import card_expiry, card_token

    token = card_token(app.state.keyring, member,  # type: ignore[attr-defined]
                       card_expiry(30))
    assert card.status_code == 200
    async with visitor(app, XBL_CADRE) as cadre:
        ok = await cadre.get("/officer/card", params={"t": token})
        assert "有效会员卡" in ok.text and member.name in ok.text
        forged = await cadre.get("/officer/card", params={"t": token[:-3] + "abc"})
        assert "无法识别" in forged.text and member.name not in forged.text
    async with visitor(app, CXG_CADRE) as other:
        out = await other.get("/officer/card", params={"t": token})
        assert member.name not in out.text and "不是你所在工会的会员" in out.text


async def test_rebind_moves_member_to_new_phone(
        app: object, xbl_member: tuple[Member, httpx.AsyncClient]) -> None:
    member, old_phone = xbl_member
    async with visitor(app, XBL_CADRE) as cadre:
        token = csrf_of((await cadre.get(f"/officer/members/{member.id}")).text)
        response = await cadre.post(f"/officer/members/{member.id}/rebind",
                                    data={"csrf_token": token}, headers={"HX-Request": "true"})
    match = re.search(r"<strong>(\d{8})</strong>", response.text)
    assert match, response.text
    async with new_client(app) as new_phone:
        page = await new_phone.get("/me/rebind")
        wrong = await new_phone.post("/me/rebind", data={
            "csrf_token": csrf_of(page.text), "phone": member.phone, "code": "00000000"})
        assert wrong.status_code == 422 and "换机码不对" in wrong.text
        ok = await new_phone.post("/me/rebind", data={
            "csrf_token": csrf_of(page.text), "phone": member.phone, "code": match.group(1)})
        assert ok.status_code == 303
        assert member.name in (await new_phone.get("/me")).text
        # One-time: the same code does not work twice.
        async with new_client(app) as third:
            page3 = await third.get("/me/rebind")
            again = await third.post("/me/rebind", data={
                "csrf_token": csrf_of(page3.text), "phone": member.phone,
                "code": match.group(1)})
            assert again.status_code == 422
    # The old phone's session no longer works.
    assert (await old_phone.get("/me")).status_code == 403


async def test_reassign_by_chair_only(app: object,
                                      xbl_member: tuple[Member, httpx.AsyncClient]) -> None:
    member, _ = xbl_member
    from server.models import Officer

    target = await Officer.get(phone="13900000013")
    async with visitor(app, XBL_CADRE) as cadre:
        token = csrf_of((await cadre.get("/officer")).text)
        refused = await cadre.post("/officer/members/reassign", data={
            "csrf_token": token, "member_ids": [str(member.id)], "cadre_id": str(target.id)})
        assert refused.status_code == 403
    async with visitor(app, XBL_CHAIR) as chair:
        token = csrf_of((await chair.get("/officer")).text)
        ok = await chair.post("/officer/members/reassign", data={
            "csrf_token": token, "member_ids": [str(member.id)], "cadre_id": str(target.id)})
        assert ok.status_code == 303
    await member.refresh_from_db()
    assert member.liaison_id == target.id  # type: ignore[attr-defined]
    assert await AuditEntry.filter(action="member.reassign", target_id=target.id).exists()
    async with visitor(app, CXG_CHAIR) as other_chair:
        token = csrf_of((await other_chair.get("/officer")).text)
        refused = await other_chair.post("/officer/members/reassign", data={
            "csrf_token": token, "member_ids": [str(member.id)], "cadre_id": str(target.id)})
        assert refused.status_code == 400


@pytest.mark.parametrize("path", [
    "/officer/login", "/officer/logout", "/officer/members/reassign", "/me/rebind",
    "/officer/members/{id}/approve", "/officer/members/{id}/reject",
    "/officer/members/{id}/rebind",
])
async def test_post_without_csrf_is_refused(app: object, path: str) -> None:
    # A member of this test's own, in the chair's scope: a refusal for want of a token,
    # not a 404 for want of a member.
    async with new_client(app) as worker:
        _, form = await enrol(worker, "chuangxingang")
    member = await Member.get(client_id=form["client_id"])
    async with visitor(app, CXG_CHAIR) as c:
        response = await c.post(path.format(id=member.id), data={"phone": "13900000020"})
    assert response.status_code == 403


async def test_join_post_without_csrf_is_refused(app: object) -> None:
    from tests.conftest import enrolment_form, join_path

    async with new_client(app) as c:
        form = enrolment_form()
        response = await c.post(await join_path(), data=form)
    assert response.status_code == 403
    assert not await Member.exists(client_id=form["client_id"])


async def test_login_logout_and_rate_limit(app: object) -> None:
    async with new_client(app) as c:
        page = await c.get("/officer/login")
        token = csrf_of(page.text)
        bad = await c.post("/officer/login", data={
            "csrf_token": token, "phone": XBL_CADRE, "password": "wrong-password"})
        assert bad.status_code == 401 and "手机号或密码不对" in bad.text
        await login(c, XBL_CADRE)
        dash = await c.get("/officer")
        assert dash.status_code == 200 and "西柏梁 干部 刘芳" in dash.text
        token = csrf_of(dash.text)
        out = await c.post("/officer/logout", data={"csrf_token": token})
        assert out.status_code == 303
        assert (await c.get("/officer")).status_code == 303
    from server.models import Officer
    from server.passwords import hash_password

    # A chair, not a cadre: a cadre here would start receiving other tests' new members.
    locked = await Officer.create(phone="13700009999", name="锁定测试", role="chair",
                                  union=(await Officer.get(phone=XBL_CADRE).select_related(
                                      "union")).union, password_hash=hash_password("right-pass"))
    async with new_client(app) as c:
        token = csrf_of((await c.get("/officer/login")).text)
        codes = []
        for _ in range(6):
            r = await c.post("/officer/login", data={
                "csrf_token": token, "phone": locked.phone, "password": "nope-nope"})
            codes.append(r.status_code)
        assert codes == [401] * 5 + [429]
        # Even the right password is refused while locked.
        r = await c.post("/officer/login", data={
            "csrf_token": token, "phone": locked.phone, "password": "right-pass"})
        assert r.status_code == 429 and "尝试次数太多" in r.text


async def test_open_redirect_refused(app: object) -> None:
    async with new_client(app) as c:
        token = csrf_of((await c.get("/officer/login")).text)
        r = await c.post("/officer/login", data={
            "csrf_token": token, "phone": XBL_CADRE, "password": "lianxin-demo-2026",
            "next": "//evil.example/"})
        assert r.headers["location"] == "/officer"
        r = await c.get("/lang", params={"to": "en", "next": "https://evil.example/"})
        assert r.headers["location"] == "/"


async def test_two_cadres_approve_at_once(app: object) -> None:
    import asyncio

    from server.models import Officer
    from server.services import membership

    async with new_client(app) as worker:
        _, form = await enrol(worker, "chuangxingang")
    member = await Member.get(client_id=form["client_id"]).select_related("project")
    cadre = await Officer.get(phone=CXG_CADRE)
    chair = await Officer.get(phone=CXG_CHAIR)
    twin = await Member.get(id=member.id).select_related("project")
    results = await asyncio.gather(membership.approve(member, cadre),
                                   membership.approve(twin, chair), return_exceptions=True)
    assert sum(isinstance(r, DomainError) for r in results) == 1
    await member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE and member.member_no


async def test_deactivated_officer_is_refused_on_the_next_request(app: Any) -> None:
    """Even a deactivation written straight to the table (not through the officers service)
    is seen at once: the session lookup reads the officer's `active` every request."""
    from server.models import Officer

    officer = await Officer.create(phone="13700020001", name="临时干部", role="cadre",
                                   union=await UnionNode.get(code="xibailiang"),
                                   password_hash=hash_password("temp-pass-2026"))
    async with new_client(app) as c:
        await login(c, officer.phone, "temp-pass-2026")
        assert (await c.get("/officer/requests")).status_code == 200
        await Officer.filter(id=officer.id).update(active=False)
        refused = await c.get("/officer/requests")
        assert refused.status_code == 303 and "/officer/login" in refused.headers["location"]
