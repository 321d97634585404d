"""Notices (scope, receipts, acknowledgement, publishing exactly once) and the inbox."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx

from server.models import (
    EventKind,
    InboxItem,
    Member,
    NodeKind,
    Notice,
    NoticeAck,
    NoticeRead,
    Officer,
    ServiceRequest,
    Team,
    UnionNode,
)
from server.services import inbox, notices
from server.services.demo import ensure_node
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import (
    CXG_CHAIR,
    UPPER,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    login,
    new_client,
)
from tests.factories import make_member, make_request, member_client


async def publish(c: httpx.AsyncClient, **fields: str) -> httpx.Response:
    page = await c.get("/officer/notices/new")
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
            "kind": "safety", "title": "大风预警", "body": "明天有大风，塔吊停止作业。",
            **fields}
    return await c.post("/officer/notices/new", data=data)


async def published(app: Any, phone: str, **fields: str) -> Notice:
    async with new_client(app) as c:
        await login(c, phone)
        response = await publish(c, **fields)
    assert response.status_code == 303, response.text[:400]
    notice_id = int(response.headers["location"].rsplit("/", 1)[1])
    return await Notice.get(id=notice_id).select_related("union")


async def sees(app: Any, member: Member, notice: Notice) -> bool:
    async with member_client(app, member) as c:
        listing = await c.get("/notices")
        page = await c.get(f"/notices/{notice.id}")
    shown = f'href="/notices/{notice.id}"' in listing.text
    assert shown == (page.status_code == 200), (shown, page.status_code)
    return shown


async def test_scopes_reach_exactly_their_members(app: Any) -> None:
    steel = await make_member(app, team="钢筋班组")
    wood = await make_member(app, team="木工班组")
    elsewhere = await make_member(app, "chuangxingang")
    await Member.filter(id=elsewhere.id).update(status="active")
    team = await published(app, XBL_CHAIR, scope="team", team=str(steel.team.id))
    assert [await sees(app, m, team) for m in (steel, wood, elsewhere)] == [True, False, False]
    project = await published(app, XBL_CHAIR, scope="project")
    assert [await sees(app, m, project) for m in (steel, wood, elsewhere)] == [True, True, False]
    # "My members": only the workers whose liaison the publishing cadre is.
    cadre = await Officer.get(id=steel.liaison_id)  # type: ignore[attr-defined]
    others = [m for m in (wood,) if m.liaison_id != cadre.id]  # type: ignore[attr-defined]
    mine = await published(app, cadre.phone, scope="mine")
    assert await sees(app, steel, mine)
    assert [await sees(app, m, mine) for m in others] == [False] * len(others)
    assert not await sees(app, elsewhere, mine)
    # An upper union reaches every project below it and nothing outside.
    below = await published(app, UPPER, scope="below", kind="wages", title="春节前工资支付提醒")
    outside = await ensure_node("other-province", "外省总工会", NodeKind.PROVINCE, None)
    project_out = await ensure_node("other-site", "外省工地", NodeKind.PROJECT, outside.code,
                                    auto_approve=True)
    far = await make_member(app, project_out.code)
    assert [await sees(app, m, below) for m in (steel, wood, elsewhere, far)] == [
        True, True, True, False]


async def test_publishers_and_scopes_are_checked(app: Any) -> None:
    async with new_client(app) as c:
        await login(c, XBL_MANAGER)
        assert (await c.get("/officer/notices/new")).status_code == 403
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        refused = await publish(c, scope="below")  # a project chair has nothing below
        assert refused.status_code == 422 and "发给谁" in refused.text
        no_team = await publish(c, scope="team")
        assert no_team.status_code == 422
    notice = await published(app, XBL_CHAIR, scope="project")
    async with new_client(app) as c:
        await login(c, CXG_CHAIR)
        assert (await c.get(f"/officer/notices/{notice.id}")).status_code == 404


async def test_publishing_is_idempotent_by_client_id(app: Any) -> None:
    key = str(uuid.uuid4())
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        first = await publish(c, scope="project", client_id=key)
        again = await publish(c, scope="project", client_id=key)
        other = await publish(c, scope="project", client_id=key, title="另一条")
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert other.status_code == 422 and "表单编号无效" in other.text
    assert await Notice.filter(client_id=key).count() == 1


async def test_receipts_counted_once_per_reader(app: Any) -> None:
    readers = [await make_member(app, team="混凝土班组") for _ in range(3)]
    notice = await published(app, XBL_CHAIR, scope="team", team=str(readers[0].team.id),
                             needs_ack="1")
    async with member_client(app, readers[0]) as c:
        # Forty opens at once (tabs, retries): one receipt.
        pages = await asyncio.gather(*(c.get(f"/notices/{notice.id}") for _ in range(40)))
        assert {p.status_code for p in pages} == {200}
        token = csrf_of(pages[0].text)
        key = str(uuid.uuid4())
        acks = await asyncio.gather(*(c.post(f"/notices/{notice.id}/ack", data={
            "csrf_token": token, "client_id": key}) for _ in range(40)))
        assert {a.status_code for a in acks} == {303}
        assert "你已确认知晓" in (await c.get(f"/notices/{notice.id}")).text
    async with member_client(app, readers[1]) as c:
        await c.get(f"/notices/{notice.id}")
        # Someone else's acknowledgement key is not theirs to replay.
        page = await c.get(f"/notices/{notice.id}")
        stolen = await c.post(f"/notices/{notice.id}/ack", data={
            "csrf_token": csrf_of(page.text), "client_id": key})
        assert stolen.status_code == 422
    assert await NoticeRead.filter(notice_id=notice.id).count() == 2
    assert await NoticeAck.filter(notice_id=notice.id).count() == 1
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get(f"/officer/notices/{notice.id}")
    total = await Member.filter(team_id=readers[0].team.id, status="active").count()
    assert f"已读 2 / {total}" in page.text and f"已确认 1 / {total}" in page.text
    # The chair sees, by name, who of the project has not read this safety notice.
    assert readers[2].name in page.text and f"tel:{readers[2].phone}" in page.text
    not_read = re.search(r'id="not-read".*?</section>', page.text, re.S)
    assert not_read and readers[0].phone not in not_read.group(0)


async def test_management_sees_no_small_receipt_counts(app: Any) -> None:
    """A team notice read by 2 of a small team: the chair sees the numbers; the project's
    manager (outside the union) sees "< 5" wherever a count of people is under five."""
    await Team.create(project=await UnionNode.get(code="xibailiang"), name="抹灰班组")
    readers = [await make_member(app, team="抹灰班组") for _ in range(2)]
    notice = await published(app, XBL_CHAIR, scope="team", team=str(readers[0].team.id),
                             needs_ack="1")
    for reader in readers:
        async with member_client(app, reader) as c:
            assert (await c.get(f"/notices/{notice.id}")).status_code == 200
    total = await Member.filter(team_id=readers[0].team.id, status="active").count()
    assert 0 < total < 5
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        chair_page = (await c.get(f"/officer/notices/{notice.id}")).text
    assert f"已读 2 / {total}" in chair_page
    async with new_client(app) as c:
        await login(c, XBL_MANAGER)
        page = await c.get(f"/officer/notices/{notice.id}")
    assert page.status_code == 200
    assert "已读 &lt; 5 / &lt; 5" in page.text and "已确认 0 / &lt; 5" in page.text
    assert f"已读 2 / {total}" not in page.text


async def test_unread_badge_and_inbox(app: Any) -> None:
    member = await make_member(app, team="架子班组")
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    # Filing lands in the liaison's inbox.
    assert await InboxItem.filter(officer_id=cadre.id, request_id=item.id,
                                  reason="assigned").exists()
    await apply_officer_action(cadre, item, "escalate", ActionInput())
    chair = await Officer.get(phone=XBL_CHAIR)
    assert await InboxItem.filter(officer_id=chair.id, request_id=item.id,
                                  reason="escalated_to_me").exists()
    # An escalation alone gives the worker nothing to read.
    assert await inbox.unread_count(member_id=member.id) == 0
    await apply_officer_action(await Officer.get(phone=XBL_CHAIR).select_related("union"),
                               await ServiceRequest.get(id=item.id), "reply",
                               ActionInput(note="已联系项目部"))
    notice = await published(app, XBL_CHAIR, scope="team", team=str(member.team.id), kind="event",
                             title="周五大家谈")
    # Notices other tests published to the whole project reach this member too.
    earlier = await Notice.filter(notices.for_member(member)).exclude(id=notice.id).values_list(
        "id", flat=True)
    async with member_client(app, member) as c:
        badge = await c.get("/me/badges")
        assert f'<span class="count">{len(earlier) + 2}</span>' in badge.text
        box = await c.get("/inbox")
        assert "你的诉求有新回复" in box.text and notice.title in box.text
        assert "已联系项目部" not in box.text  # the lock-screen-safe line, not the text
        await c.get(f"/requests/{item.id}")
        for notice_id in [notice.id, *earlier]:
            await c.get(f"/notices/{notice_id}")
        assert "count" not in (await c.get("/me/badges")).text
    event = await InboxItem.filter(member_id=member.id).first().select_related("event")
    assert event is not None and event.event.kind == EventKind.REPLY


async def test_batch_filing_fills_the_liaisons_inbox(app: Any) -> None:
    from tests.test_sync_batch import item, post_batch

    member = await make_member(app)
    async with member_client(app, member) as c:
        results = (await post_batch(c, [item("批量一"), item("批量二")])).json()["results"]
    ids = [int(r["location"].rsplit("/", 1)[1]) for r in results]
    assert await InboxItem.filter(request_id__in=ids, reason="assigned",
                                  officer_id=member.liaison_id).count() == 2  # type: ignore[attr-defined]
