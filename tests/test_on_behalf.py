"""Requests a cadre files on a worker's behalf (代工友提交诉求, issue 11): the worker's own
request all the same, with who filed it, how they heard it and the worker's consent on
record; never shown outside the union."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx

from server.models import (
    AuditEntry,
    InboxItem,
    LimitCounter,
    Member,
    Officer,
    RequestEvent,
    ServiceRequest,
    Status,
)
from server.services import limits
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import (
    CXG_CADRE,
    UPPER,
    XBL_CADRE,
    XBL_CADRE2,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    login,
    new_client,
)
from tests.factories import make_member, member_client


async def liaison(member: Member) -> Officer:
    return await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]


def on_behalf_form(token: str, client_id: str | None = None, **extra: str) -> dict[str, str]:
    return {"csrf_token": token, "client_id": client_id or str(uuid.uuid4()),
            "category": "living", "description": "宿舍空调坏了，晚上热得睡不着",
            "anonymous": "management", "heard_by": "phone", "consent": "yes", **extra}


async def file_on_behalf(c: httpx.AsyncClient, member: Member,
                         **extra: str) -> httpx.Response:
    page = await c.get(f"/officer/members/{member.id}/requests/new")
    assert page.status_code == 200
    return await c.post(f"/officer/members/{member.id}/requests/new",
                        data=on_behalf_form(csrf_of(page.text), **extra))


async def test_cadre_files_for_a_worker_who_follows_it_up_and_rates_it(app: Any) -> None:
    member = await make_member(app, name="王小军")
    cadre = await liaison(member)
    async with new_client(app) as c:
        await login(c, cadre.phone)
        profile = await c.get(f"/officer/members/{member.id}")
        assert f'href="/officer/members/{member.id}/requests/new"' in profile.text
        page = await c.get(f"/officer/members/{member.id}/requests/new")
        # The worker's form (the same partial), plus how it was heard and the consent box.
        assert 'name="category"' in page.text and 'name="photo"' in page.text
        assert 'name="voice"' in page.text and "工友同意由我代为提交" in page.text
        assert re.search(r'<input type="checkbox" name="consent" value="yes" required>',
                         page.text)
        assert 'name="heard_by" value="phone"' in page.text
        # No consent: refused with the reason by the box, what was typed kept.
        refused = await c.post(f"/officer/members/{member.id}/requests/new",
                               data={**on_behalf_form(csrf_of(page.text)), "consent": ""})
        assert refused.status_code == 422
        assert 'id="consent-error"' in refused.text and "宿舍空调坏了" in refused.text
        no_channel = await c.post(f"/officer/members/{member.id}/requests/new",
                                  data={**on_behalf_form(csrf_of(page.text)), "heard_by": ""})
        assert no_channel.status_code == 422 and 'id="heard_by-error"' in no_channel.text
        assert await ServiceRequest.filter(member_id=member.id).count() == 0
        filed = await c.post(f"/officer/members/{member.id}/requests/new",
                             data=on_behalf_form(csrf_of(page.text)))
        assert filed.status_code == 303
        request_id = int(filed.headers["location"].rsplit("/", 1)[1])
        # The liaison filed it: it is theirs to handle, and opens on their page.
        assert filed.headers["location"] == f"/officer/requests/{request_id}"
        officer_page = await c.get(filed.headers["location"])
    assert f"由干部{cadre.name}代为提交（电话）" in officer_page.text
    item = await ServiceRequest.get(id=request_id)
    assert item.member_id == member.id and item.project_id == member.project_id  # type: ignore[attr-defined]
    assert item.assignee_id == cadre.id and item.on_behalf_by_id == cadre.id  # type: ignore[attr-defined]
    assert item.on_behalf_channel == "phone" and item.on_behalf_consent_at is not None
    first = await RequestEvent.filter(request_id=item.id).order_by("id").first()
    assert first is not None and first.kind == "submitted"
    assert first.actor_id == cadre.id and not first.by_worker  # type: ignore[attr-defined]
    assert first.detail == {"on_behalf": "phone", "consent": True}
    audit = await AuditEntry.get(action="request.on_behalf", target_id=item.id)
    assert audit.actor_id == cadre.id  # type: ignore[attr-defined]
    assert audit.detail["member"] == member.id and audit.detail["heard_by"] == "phone"

    # The worker hears of it (an inbox item, and so a push); the cadre who filed it does not.
    items = await InboxItem.filter(request_id=item.id).values_list("member_id", "officer_id",
                                                                   "reason")
    assert items == [(member.id, None, "filed_for_you")]

    async with member_client(app, member) as w:
        inbox_page = await w.get("/inbox")
        assert "工会干部替你提交了诉求" in inbox_page.text
        assert f'href="/requests/{item.id}"' in inbox_page.text
        mine = await w.get("/requests")
        assert f"/requests/{item.id}" in mine.text
        assert mine.text.count('class="badge badge-new"') == 1  # theirs to read
        page = await w.get(f"/requests/{item.id}")
        assert f"由干部{cadre.name}代为提交（电话）" in page.text
        follow = await w.post(f"/requests/{item.id}/worker_reply", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
            "note": "是 3 号宿舍"})
        assert follow.status_code == 303
        await apply_officer_action(cadre, await ServiceRequest.get(id=item.id), "resolve",
                                   ActionInput(note="空调已经修好"))
        page = await w.get(f"/requests/{item.id}")
        done = await w.post(f"/requests/{item.id}/confirm", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()), "rating": "5"})
        assert done.status_code == 303
    item = await ServiceRequest.get(id=item.id)
    assert item.status == Status.CLOSED and item.rating == 5


async def test_another_cadre_files_it_and_the_liaison_holds_it(app: Any) -> None:
    member = await make_member(app)
    holder = await liaison(member)
    other = XBL_CADRE2 if holder.phone == XBL_CADRE else XBL_CADRE
    async with new_client(app) as c:
        await login(c, other)
        filed = await file_on_behalf(c, member, heard_by="in_person")
        assert filed.status_code == 303
        item = await ServiceRequest.get(member_id=member.id)
        # Not theirs to handle: back to the member's page, which says which request it is.
        assert filed.headers["location"] == f"/officer/members/{member.id}?filed={item.id}"
        back = await c.get(filed.headers["location"])
        assert f"#{item.id}" in back.text
    assert item.assignee_id == holder.id  # type: ignore[attr-defined]
    assert item.on_behalf_channel == "in_person"


async def test_only_officers_who_may_see_the_member_file_for_them(app: Any) -> None:
    member = await make_member(app)
    for phone, status in ((CXG_CADRE, 404), (XBL_MANAGER, 403), (UPPER, 403)):
        async with new_client(app) as c:
            await login(c, phone)
            page = await c.get(f"/officer/members/{member.id}/requests/new")
            assert page.status_code == status, phone
            posted = await c.post(f"/officer/members/{member.id}/requests/new",
                                  data=on_behalf_form(csrf_of((await c.get("/officer")).text)))
            assert posted.status_code == status, phone
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        assert (await file_on_behalf(c, member)).status_code == 303
    assert await ServiceRequest.filter(member_id=member.id).count() == 1


async def test_management_and_the_upper_union_never_learn_who_filed_it(app: Any) -> None:
    member = await make_member(app, name="赵铁柱")
    cadre = await liaison(member)
    async with new_client(app) as c:
        await login(c, cadre.phone)
        assert (await file_on_behalf(c, member)).status_code == 303
    item = await ServiceRequest.get(member_id=member.id)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    await apply_officer_action(chair, item, "refer", ActionInput(note="请项目部修空调"))
    await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "escalate",
                               ActionInput(note="需要上级协调"))
    for phone in (XBL_MANAGER, UPPER):
        async with new_client(app) as c:
            await login(c, phone)
            page = await c.get(f"/officer/requests/{item.id}")
        assert page.status_code == 200, phone
        assert "宿舍空调坏了" in page.text or phone == UPPER
        for hidden in (cadre.name, "代为提交", member.name):
            assert hidden not in page.text, (phone, hidden)


async def test_anonymous_to_all_hides_the_worker_from_other_officers(app: Any) -> None:
    member = await make_member(app, name="钱多多")
    cadre = await liaison(member)
    async with new_client(app) as c:
        await login(c, cadre.phone)
        assert (await file_on_behalf(c, member, anonymous="all")).status_code == 303
    item = await ServiceRequest.get(member_id=member.id)
    assert item.anonymity == "all"
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get(f"/officer/requests/{item.id}")
    assert member.name not in page.text and "匿名工友" in page.text
    assert f"由干部{cadre.name}代为提交（电话）" in page.text


async def test_forty_concurrent_replays_file_one_request_and_cost_one(app: Any) -> None:
    member = await make_member(app)
    cadre = await liaison(member)
    key = str(uuid.uuid4())
    async with new_client(app) as c:
        await login(c, cadre.phone)
        page = await c.get(f"/officer/members/{member.id}/requests/new")
        form = on_behalf_form(csrf_of(page.text), client_id=key)
        answers = await asyncio.gather(*(
            c.post(f"/officer/members/{member.id}/requests/new", data=form)
            for _ in range(40)))
        statuses = [a.status_code for a in answers]
        # Each answer is the request (303) or "try later" (429, the outbox retries it);
        # never a second request, never an error.
        assert set(statuses) <= {303, 429} and 303 in statuses, statuses
        assert len({a.headers["location"] for a in answers if a.status_code == 303}) == 1
        assert await ServiceRequest.filter(client_id=key).count() == 1
        assert await RequestEvent.filter(request__client_id=key, kind="submitted").count() == 1
        # Replays gave back what they counted: the worker's hour holds one filing.
        hits = await LimitCounter.filter(
            bucket=f"{limits.current().requests.name}:{member.id}").values_list(
            "hits", flat=True)
        assert sum(hits) == 1
        # A later replay answers as the first did; other content under the key is refused.
        again = await c.post(f"/officer/members/{member.id}/requests/new", data=form)
        assert again.status_code == 303
        changed = await c.post(f"/officer/members/{member.id}/requests/new",
                               data={**form, "description": "另一件事"})
        assert changed.status_code == 409 and "表单编号无效" in changed.text
    item = await ServiceRequest.get(client_id=key)
    assert await AuditEntry.filter(action="request.on_behalf", target_id=item.id).count() == 1


async def test_the_workers_hourly_quota_holds_for_filing_on_their_behalf(app: Any) -> None:
    member = await make_member(app)
    await LimitCounter.filter(bucket=f"{limits.current().requests.name}:{member.id}").delete()
    await limits.bump(limits.current().requests, str(member.id),
                      limits.current().requests.max_hits)
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        refused = await file_on_behalf(c, member)
    assert refused.status_code == 429 and "一小时内最多提交" in refused.text
    assert "宿舍空调坏了" in refused.text
    assert await ServiceRequest.filter(member_id=member.id).count() == 0


async def test_a_member_who_is_not_active_cannot_be_filed_for(app: Any) -> None:
    member = await make_member(app)
    await Member.filter(id=member.id).update(status="left")
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get(f"/officer/members/{member.id}/requests/new")
        assert "只有正式会员可以代为提交诉求" in page.text and 'name="consent"' not in page.text
        profile = await c.get(f"/officer/members/{member.id}")
        assert "/requests/new" not in profile.text
        posted = await c.post(f"/officer/members/{member.id}/requests/new",
                              data=on_behalf_form(csrf_of(page.text)))
    assert posted.status_code == 409
    assert await ServiceRequest.filter(member_id=member.id).count() == 0
