"""Tap to call, both ways: a worker calls their liaison, the cadre handling a request, the
chair, or (still waiting, or turned down) the union office; an officer who may know who
filed a request calls the worker, each number taken on the audit log; management and the
upper union never get a worker's number, nor does anyone when the filer is anonymous to all.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.models import Anonymity, AuditEntry, Member, Officer, ServiceRequest, UnionNode
from server.services import membership
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import (
    ADMIN,
    CXG_CADRE,
    CXG_CHAIR,
    UPPER,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    enrol,
    new_client,
)
from tests.factories import make_member, make_request, member_client, officer_client

TEL = re.compile(r'href="tel:(\+?\d+)"')


def tel_numbers(html: str) -> set[str]:
    return set(TEL.findall(html))


@pytest.fixture(scope="module")
async def cases(app: Any) -> dict[str, Any]:
    """Two workers of 西柏梁, one request each (one anonymous to all), both referred to
    management and passed up to the upper union, so every role has both in scope."""
    member = await make_member(app, name="电话工友")
    named = await make_request(member, anonymity=Anonymity.MANAGEMENT, text="宿舍没热水")
    other = await make_member(app, name="匿名工友甲")
    hidden = await make_request(other, anonymity=Anonymity.ALL, text="班组长克扣工资")
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    for item in (named, hidden):
        # A chair escalating sends it straight to the upper union.
        for action in ("refer", "escalate"):
            await apply_officer_action(chair, await ServiceRequest.get(id=item.id), action,
                                       ActionInput(note="请项目部处理"))
    return {"member": member, "named": named, "other": other, "hidden": hidden}


async def test_worker_calls_liaison_and_chair_from_home_card_and_request(
        app: Any, cases: dict[str, Any]) -> None:
    member: Member = cases["member"]
    liaison = await Officer.get(id=member.liaison_id)  # type: ignore[attr-defined]
    async with member_client(app, member) as c:
        home = await c.get("/me")
        card = await c.get("/me/card")
        detail = await c.get(f"/requests/{cases['named'].id}")
        listed = await c.get("/requests")
    for page in (home, card, detail, listed):
        assert page.status_code == 200
        assert {liaison.phone, XBL_CHAIR} <= tel_numbers(page.text), page.url
        # Numbers of officers the worker has nothing to do with are not handed out.
        assert XBL_MANAGER not in page.text
    assert liaison.name in home.text and "你的联络干部" in home.text
    # The request page names the cadre holding the request (here the liaison).
    assert "负责这条诉求的干部" in detail.text


async def test_worker_calls_whoever_holds_the_request_after_reassignment(app: Any) -> None:
    member = await make_member(app, name="换人工友")
    item = await make_request(member, text="换了干部以后找谁")
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    other = await Officer.filter(union_id=item.project_id, role="cadre", active=True).exclude(
        id=item.assignee_id).first()
    assert other is not None
    await apply_officer_action(chair, item, "reassign", ActionInput(assignee_id=other.id))
    async with member_client(app, member) as c:
        detail = await c.get(f"/requests/{item.id}")
    assert {other.phone, XBL_CHAIR} <= tel_numbers(detail.text)


async def test_applicant_waiting_or_turned_down_sees_whom_to_call_and_the_office(
        app: Any) -> None:
    async with officer_client(app, CXG_CHAIR) as chair_client:
        page = await chair_client.get("/officer/office")
        assert page.status_code == 200
        saved = await chair_client.post("/officer/office", data={
            "csrf_token": csrf_of(page.text), "office_address": "生活区 3 号板房一楼 工会之家",
            "office_phone": "029-8888 6666"})
        assert saved.status_code == 303
    project = await UnionNode.get(code="chuangxingang")
    assert (project.office_address, project.office_phone) == (
        "生活区 3 号板房一楼 工会之家", "029-8888 6666")
    entry = await AuditEntry.filter(action="project.office", target_id=project.id).first()
    assert entry is not None and entry.detail["phone"] == "029-8888 6666"

    async with new_client(app) as c:
        response, form = await enrol(c, project="chuangxingang", name="等审核")
        assert response.status_code == 303
        waiting = await c.get("/me")
        assert "等待工会干部确认" in waiting.text
        assert {XBL_CHAIR, CXG_CHAIR} & tel_numbers(waiting.text) == {CXG_CHAIR}
        assert "tel:02988886666" in waiting.text and "工会之家" in waiting.text
        member = await Member.get(phone=form["phone"], project=project)
        cadre = await Officer.get(phone=CXG_CADRE)
        await membership.reject(member, cadre, "不是本项目的工人")
        turned_down = await c.get("/me")
    assert "入会申请没有通过" in turned_down.text
    assert {CXG_CADRE, CXG_CHAIR} <= tel_numbers(turned_down.text)
    assert "tel:02988886666" in turned_down.text and "工会之家" in turned_down.text


async def test_office_form_checks_the_number_and_is_the_chairs(app: Any) -> None:
    async with officer_client(app, CXG_CHAIR) as c:
        page = await c.get("/officer/office")
        bad = await c.post("/officer/office", data={
            "csrf_token": csrf_of(page.text), "office_address": "工会之家",
            "office_phone": "call me"})
    assert bad.status_code == 422
    assert "电话号码只能有数字" in bad.text
    async with officer_client(app, CXG_CADRE) as c:
        assert (await c.get("/officer/office")).status_code == 403


async def reveal(c: Any, item: ServiceRequest, htmx: bool = False) -> Any:
    page = await c.get(f"/officer/requests/{item.id}")
    headers = {"HX-Request": "true"} if htmx else {}
    return page, await c.post(f"/officer/requests/{item.id}/phone",
                              data={"csrf_token": csrf_of(page.text)}, headers=headers)


@pytest.mark.parametrize("who", ["liaison", XBL_CHAIR, ADMIN])
async def test_union_officer_gets_the_workers_number_on_tap_and_it_is_audited(
        app: Any, cases: dict[str, Any], who: str) -> None:
    member: Member = cases["member"]
    phone = (await Officer.get(id=member.liaison_id)).phone if who == "liaison" else who  # type: ignore[attr-defined]
    officer = await Officer.get(phone=phone)
    item = cases["named"]
    before = await AuditEntry.filter(action="request.phone", actor_id=officer.id).count()
    async with officer_client(app, phone) as c:
        page, shown = await reveal(c, item, htmx=True)
        # Opening the request shows whom to call, not the number: that takes a tap.
        assert page.status_code == 200 and "显示电话" in page.text
        assert member.phone not in page.text
        assert shown.status_code == 200
        assert f'href="tel:{member.phone}"' in shown.text
        assert "<html" not in shown.text  # the fragment alone, swapped in place
        _, without_js = await reveal(c, item)
        assert without_js.status_code == 200 and f'href="tel:{member.phone}"' in without_js.text
        assert "<html" in without_js.text
    entries = await AuditEntry.filter(action="request.phone", actor_id=officer.id).order_by(
        "id")
    assert len(entries) == before + 2
    assert (entries[-1].target_type, entries[-1].target_id) == ("servicerequest", item.id)
    assert entries[-1].detail["member"] == member.id


@pytest.mark.parametrize("who", ["liaison", XBL_CHAIR])
async def test_no_number_when_anonymous_to_all(app: Any, cases: dict[str, Any],
                                              who: str) -> None:
    other: Member = cases["other"]
    phone = (await Officer.get(id=other.liaison_id)).phone if who == "liaison" else who  # type: ignore[attr-defined]
    item = cases["hidden"]
    async with officer_client(app, phone) as c:
        page, shown = await reveal(c, item)
    assert page.status_code == 200
    assert "显示电话" not in page.text and other.phone not in page.text
    assert shown.status_code == 404 and other.phone not in shown.text
    assert not await AuditEntry.exists(action="request.phone", target_id=item.id)


@pytest.mark.parametrize("who", [XBL_MANAGER, UPPER])
async def test_management_and_upper_union_never_get_a_workers_number(
        app: Any, cases: dict[str, Any], who: str) -> None:
    member: Member = cases["member"]
    item = cases["named"]
    async with officer_client(app, who) as c:
        page, shown = await reveal(c, item)
        fragment = await c.get(f"/officer/requests/{item.id}", headers={"HX-Request": "true"})
    assert page.status_code == 200, page.text[:300]
    for response in (page, fragment, shown):
        assert member.phone not in response.text
        assert "显示电话" not in response.text
    assert shown.status_code == 404
    officer = await Officer.get(phone=who)
    assert not await AuditEntry.exists(action="request.phone", actor_id=officer.id)


async def test_cadre_of_another_project_gets_404(app: Any, cases: dict[str, Any]) -> None:
    member: Member = cases["member"]
    async with officer_client(app, CXG_CADRE) as c:
        page = await c.get("/officer")
        response = await c.post(f"/officer/requests/{cases['named'].id}/phone",
                                data={"csrf_token": csrf_of(page.text)})
    assert response.status_code == 404
    assert member.phone not in response.text
