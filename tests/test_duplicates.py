"""Duplicates follow their master (issue 12): the follower's worker reads the master's status,
the union's public answers and its resolution, gets the same notifications, confirms and rates
for themself; never the master's worker, their words, or anything internal. Unlinking is an
audited officer action on both timelines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.expressions import Q

from server.errors import DomainError
from server.models import (
    AuditEntry,
    Delivery,
    EventKind,
    InboxItem,
    Officer,
    PushSubscription,
    RequestEvent,
    ServiceRequest,
    Status,
)
from server.services import lifecycle
from server.services.lifecycle import ActionInput, apply_officer_action, apply_worker_action
from tests.conftest import XBL_CHAIR, csrf_of
from tests.factories import make_member, make_request, member_client, officer_client

MASTER_TEXT = "三号楼电动车没地方停，我是张三，住3号宿舍"
SECRET_NOTE = "内部：提出人是张三的老乡，别说出去"
MASTER_WORKER_WORDS = "我补充一下：我叫张三，电话138"


async def _chair() -> Officer:
    return await Officer.get(phone=XBL_CHAIR).select_related("union")


async def _act(officer: Officer, request_id: int, action: str, note: str = "",
               **extra: Any) -> None:
    item = await ServiceRequest.get(id=request_id)
    await apply_officer_action(officer, item, action, ActionInput(note=note, **extra))


async def _page(app: Any, member: Any, request_id: int) -> str:
    async with member_client(app, member) as c:
        page = await c.get(f"/requests/{request_id}")
        assert page.status_code == 200
        return page.text


async def test_follower_reads_the_masters_whole_life(app: Any) -> None:
    a = await make_member(app, name="张三")
    b = await make_member(app, name="李四")
    master = await make_request(a, text=MASTER_TEXT)
    follower = await make_request(b, text="能不能建个电动车棚")
    await PushSubscription.create(member_id=b.id, endpoint=f"http://push.test/{uuid.uuid4()}",
                                  p256dh="x", auth="y", created_at=datetime.now(UTC))
    chair = await _chair()

    # Marked as the same as the master, through the officer's form.
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{follower.id}")
        r = await c.post(f"/officer/requests/{follower.id}/duplicate", data={
            "csrf_token": csrf_of(page.text), "duplicate_of": str(master.id)})
        assert r.status_code == 303
        panel = await c.get(f"/officer/requests/{follower.id}")
        assert f'href="/officer/requests/{master.id}"' in panel.text
        assert f"/officer/requests/{follower.id}/unlink" in panel.text
        master_panel = await c.get(f"/officer/requests/{master.id}")
        assert f'href="/officer/requests/{follower.id}"' in master_panel.text
    linked = await ServiceRequest.get(id=follower.id)
    assert linked.duplicate_of_id == master.id  # type: ignore[attr-defined]
    assert linked.status == Status.SUBMITTED  # as far as its master: nothing yet
    assert await InboxItem.exists(member_id=b.id, request_id=follower.id, reason="duplicate")
    text = await _page(app, b, follower.id)
    assert "不予受理" not in text and 'id="followed"' in text

    # Acknowledged.
    await _act(chair, master.id, "acknowledge")
    assert (await ServiceRequest.get(id=follower.id)).status == Status.ACKNOWLEDGED
    # A public reply: copied, notified (inbox and push), in the same transaction.
    await _act(chair, master.id, "reply", "已经跟项目部说了，正在选地方")
    copy = await RequestEvent.get(request_id=follower.id, kind=EventKind.REPLY)
    assert copy.note == "已经跟项目部说了，正在选地方" and copy.public
    item = await InboxItem.get(member_id=b.id, request_id=follower.id, event_id=copy.id)
    assert item.reason == "reply"
    assert await Delivery.exists(inbox_item_id=item.id, member_id=b.id)
    assert (await ServiceRequest.get(id=follower.id)).status == Status.IN_PROGRESS
    # What the follower must never see: an internal note, the master's worker's own words.
    await _act(chair, master.id, "note", SECRET_NOTE)
    fresh_master = await ServiceRequest.get(id=master.id)
    await apply_worker_action(a, fresh_master, "worker_reply",
                              ActionInput(note=MASTER_WORKER_WORDS))
    assert not await RequestEvent.exists(request_id=follower.id, kind=EventKind.NOTE)
    assert not await RequestEvent.exists(request_id=follower.id,
                                         kind=EventKind.WORKER_REPLY)
    # Resolved: the follower waits for its own worker's confirmation.
    await _act(chair, master.id, "resolve", "车棚建好了，在北门")
    now_follower = await ServiceRequest.get(id=follower.id)
    assert now_follower.status == Status.RESOLVED
    assert now_follower.resolution == "车棚建好了，在北门"
    assert await InboxItem.exists(member_id=b.id, request_id=follower.id, reason="resolved")
    # The master's worker confirms: closed for them, not for the follower.
    await lifecycle.confirm_and_rate(a, await ServiceRequest.get(id=master.id),
                                     ActionInput(rating=2))
    assert (await ServiceRequest.get(id=master.id)).status == Status.CLOSED
    assert (await ServiceRequest.get(id=follower.id)).status == Status.RESOLVED

    text = await _page(app, b, follower.id)
    for secret in (MASTER_TEXT, SECRET_NOTE, MASTER_WORKER_WORDS, "张三"):
        assert secret not in text
    assert "不予受理" not in text
    assert "已经跟项目部说了，正在选地方" in text and "车棚建好了，在北门" in text
    assert "已确认" in text  # the master's status, shown in the box

    # The follower confirms and rates for themself.
    async with member_client(app, b) as c:
        page = await c.get(f"/requests/{follower.id}")
        r = await c.post(f"/requests/{follower.id}/confirm", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()), "rating": "5"})
        assert r.status_code == 303
    done = await ServiceRequest.get(id=follower.id)
    assert done.status == Status.CLOSED and done.rating == 5
    assert (await ServiceRequest.get(id=master.id)).rating == 2


async def test_link_to_an_answered_master_copies_its_public_answers(app: Any) -> None:
    a, b = await make_member(app), await make_member(app)
    master, follower = await make_request(a), await make_request(b)
    chair = await _chair()
    await _act(chair, master.id, "reply", "先登记，明天答复")
    await _act(chair, master.id, "note", SECRET_NOTE)
    await _act(chair, follower.id, "duplicate", duplicate_of=master.id)
    linked = await ServiceRequest.get(id=follower.id)
    assert linked.status == Status.IN_PROGRESS
    notes = await RequestEvent.filter(request_id=follower.id).values_list("kind", "note")
    assert (EventKind.REPLY, "先登记，明天答复") in notes
    assert all(note != SECRET_NOTE for _, note in notes)
    # One inbox item for the link, none for each copied answer.
    reasons = await InboxItem.filter(member_id=b.id, request_id=follower.id).values_list(
        "reason", flat=True)
    assert reasons == ["duplicate"]
    # Marking an already resolved master: resolved for the follower's own confirmation.
    await _act(chair, master.id, "resolve", "答复了")
    c_member = await make_member(app)
    late = await make_request(c_member)
    await _act(chair, late.id, "duplicate", duplicate_of=master.id)
    late_now = await ServiceRequest.get(id=late.id)
    assert late_now.status == Status.RESOLVED and late_now.resolution == "答复了"
    assert "confirm" in lifecycle.worker_actions(late_now)


async def test_guards_no_self_no_chain_same_project_in_scope(app: Any) -> None:
    a, b, c = [await make_member(app) for _ in range(3)]
    master, follower, third = [await make_request(m) for m in (a, b, c)]
    other_project = await make_request(await make_member(app, "chuangxingang"))
    chair = await _chair()
    with pytest.raises(DomainError):
        await _act(chair, follower.id, "duplicate", duplicate_of=follower.id)
    with pytest.raises(DomainError):
        await _act(chair, follower.id, "duplicate", duplicate_of=other_project.id)
    with pytest.raises(DomainError):  # the master outside the officer's scope
        await _act(chair, follower.id, "duplicate", duplicate_of=master.id,
                   master_scope=Q(id=-1))
    await _act(chair, follower.id, "duplicate", duplicate_of=master.id)
    # Marking as a duplicate of a follower links to its master: no chains.
    await _act(chair, third.id, "duplicate", duplicate_of=follower.id)
    assert (await ServiceRequest.get(id=third.id)).duplicate_of_id == master.id  # type: ignore[attr-defined]
    # A master cannot become a follower; a follower cannot be marked again.
    with pytest.raises(DomainError):
        await _act(chair, master.id, "duplicate", duplicate_of=other_project.id)
    fresh = await make_request(await make_member(app))
    with pytest.raises(DomainError):
        await _act(chair, master.id, "duplicate", duplicate_of=fresh.id)
    assert "duplicate" not in lifecycle.officer_actions(
        chair, await ServiceRequest.get(id=follower.id))


async def test_unlink_is_on_both_timelines_and_audited(app: Any) -> None:
    a, b = await make_member(app), await make_member(app)
    master, follower = await make_request(a), await make_request(b)
    chair = await _chair()
    await _act(chair, follower.id, "duplicate", duplicate_of=master.id)
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/requests/{follower.id}")
        r = await c.post(f"/officer/requests/{follower.id}/unlink",
                         data={"csrf_token": csrf_of(page.text)})
        assert r.status_code == 303
        again = await c.post(f"/officer/requests/{follower.id}/unlink",
                             data={"csrf_token": csrf_of(page.text)})
        assert again.status_code == 409
        panel = await c.get(f"/officer/requests/{master.id}")
        assert "取消合并，单独办理" in panel.text
    assert (await ServiceRequest.get(id=follower.id)).duplicate_of_id is None  # type: ignore[attr-defined]
    mine = await RequestEvent.get(request_id=follower.id, kind=EventKind.UNLINKED)
    theirs = await RequestEvent.get(request_id=master.id, kind=EventKind.UNLINKED)
    assert mine.public and not theirs.public
    assert theirs.detail == {"follower": follower.id}
    assert await AuditEntry.exists(action="request.unlink", target_id=follower.id)
    assert "取消合并" in await _page(app, b, follower.id)
    # Answers on the master no longer reach it.
    await _act(chair, master.id, "reply", "只回复原来那位")
    assert not await RequestEvent.exists(request_id=follower.id, kind=EventKind.REPLY)


async def test_deadline_job_leaves_followers_to_their_master(app: Any) -> None:
    from datetime import timedelta

    from server.services import escalation
    a, b = await make_member(app), await make_member(app)
    master, follower = await make_request(a), await make_request(b)
    await _act(await _chair(), follower.id, "duplicate", duplicate_of=master.id)
    past = datetime.now(UTC) - timedelta(days=30)
    await ServiceRequest.filter(id__in=[master.id, follower.id]).update(level_due_at=past)
    await escalation.run_deadline_job(datetime.now(UTC))
    assert await RequestEvent.exists(request_id=master.id, kind=EventKind.AUTO_ESCALATED)
    assert not await RequestEvent.exists(request_id=follower.id,
                                         kind=EventKind.AUTO_ESCALATED)
