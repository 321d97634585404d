"""Officers offline (issue 11): an officer's action from the outbox is applied exactly once by
its client_id, and not at all when the request moved on since the officer saw it in a way
that makes it doubtful (answered 409 with both states); changes that do not conflict apply."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from server.models import AuditEntry, Officer, RequestEvent, ServiceRequest, Status
from server.services.lifecycle import ActionInput, apply_officer_action, apply_worker_action
from tests.conftest import XBL_CADRE, XBL_CADRE2, XBL_CHAIR, csrf_of, new_client
from tests.factories import make_member, make_request, officer_client

OUTBOX = {"X-Lianxin-Outbox": "1", "Accept": "application/json"}


async def officer(phone: str) -> Officer:
    return await Officer.get(phone=phone).select_related("union")


async def assigned_request(app: Any, to: str = XBL_CADRE) -> ServiceRequest:
    item = await make_request(await make_member(app))
    cadre = await Officer.get(phone=to)
    await ServiceRequest.filter(id=item.id).update(assignee_id=cadre.id)
    return await ServiceRequest.get(id=item.id)


async def token_and_seen(c: httpx.AsyncClient, request_id: int) -> tuple[str, int]:
    page = await c.get(f"/officer/requests/{request_id}")
    assert page.status_code == 200
    seen = (await ServiceRequest.get(id=request_id)).last_event_id
    assert f'name="seen" value="{seen}"' in page.text
    return csrf_of(page.text), seen


def queued(token: str, seen: int, action: str, note: str = "", by: Officer | None = None,
           client_id: str | None = None) -> dict[str, str]:
    return {"csrf_token": token, "client_id": client_id or str(uuid.uuid4()), "seen": str(seen),
            "action": action, "note": note, "queued_by": str(by.id) if by else ""}


async def events(request_id: int, kind: str) -> list[RequestEvent]:
    return list(await RequestEvent.filter(request_id=request_id, kind=kind).order_by("id"))


async def test_forty_replays_of_one_queued_reply_and_resolve_apply_once(app: Any) -> None:
    item = await assigned_request(app)
    cadre = await officer(XBL_CADRE)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        reply = queued(token, seen, "reply", "收到，今天去问", cadre)
        resolve = queued(token, seen, "resolve", "工资已补发", cadre)
        for form in (reply, resolve):
            answers = await asyncio.gather(*[
                c.post(f"/officer/requests/{item.id}/act", data=form, headers=OUTBOX)
                for _ in range(40)])
            assert {a.status_code for a in answers} == {303}, [a.text[:200] for a in answers]
    replies = await events(item.id, "reply")
    resolved = await events(item.id, "resolved")
    assert [e.note for e in replies] == ["收到，今天去问"]
    assert [e.note for e in resolved] == ["工资已补发"]
    assert str(replies[0].client_id) == reply["client_id"]
    assert len(await events(item.id, "acknowledged")) == 1
    assert (await ServiceRequest.get(id=item.id)).status == Status.RESOLVED
    # Audited once each, marked as coming from the outbox.
    for action in ("request.reply", "request.resolve"):
        audited = await AuditEntry.filter(action=action, target_id=item.id).values_list(
            "detail", flat=True)
        assert len(audited) == 1 and audited[0].get("queued") is True


async def test_replayed_key_with_other_words_is_refused(app: Any) -> None:
    item = await assigned_request(app)
    cadre = await officer(XBL_CADRE)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        form = queued(token, seen, "note", "先记一下", cadre)
        first = await c.post(f"/officer/requests/{item.id}/act", data=form, headers=OUTBOX)
        other = await c.post(f"/officer/requests/{item.id}/act",
                             data={**form, "note": "别的话"}, headers=OUTBOX)
    assert first.status_code == 303
    assert other.status_code == 422 and "表单编号无效" in other.json()["message"]
    assert [e.note for e in await events(item.id, "note")] == ["先记一下"]


async def test_resolve_after_another_officer_resolved_needs_attention(app: Any) -> None:
    item = await assigned_request(app)
    cadre, chair = await officer(XBL_CADRE), await officer(XBL_CHAIR)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        # While the cadre is offline the chair resolves it.
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "resolve",
                                   ActionInput(note="主席：已经办好"))
        answer = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                              data=queued(token, seen, "resolve", "我也办好了", cadre))
    assert answer.status_code == 409
    body = answer.json()
    conflict = body["conflict"]
    assert "已被别人处理" in body["message"]
    # Both states: what the cadre queued, and the request now with what happened since.
    assert conflict["queued"] == {"action": "resolve", "label": "办结", "note": "我也办好了"}
    assert conflict["now"]["status"] == "resolved" and conflict["now"]["status_label"] == "已办结"
    assert any(e["note"] == "主席：已经办好" for e in conflict["now"]["since"])
    assert conflict["may_retry"] is False
    assert [e.note for e in await events(item.id, "resolved")] == ["主席：已经办好"]


async def test_reply_after_an_unread_worker_message_needs_attention_then_reapplies(
        app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await officer(XBL_CADRE)
    await ServiceRequest.filter(id=item.id).update(assignee_id=cadre.id)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        await apply_worker_action(member, await ServiceRequest.get(id=item.id), "worker_reply",
                                  ActionInput(note="老板说下周发", client_id=uuid.uuid4()))
        form = queued(token, seen, "reply", "我去问老板", cadre)
        answer = await c.post(f"/officer/requests/{item.id}/act", data=form, headers=OUTBOX)
        assert answer.status_code == 409
        conflict = answer.json()["conflict"]
        assert "新消息" in answer.json()["message"] and conflict["may_retry"] is True
        assert [e["note"] for e in conflict["now"]["since"]] == ["老板说下周发"]
        assert await events(item.id, "reply") == []
        # Re-applied deliberately: the same item with the request as it is now.
        again = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX, data={
            **form, "seen": str(conflict["now"]["last_event_id"])})
    assert again.status_code == 303
    assert [e.note for e in await events(item.id, "reply")] == ["我去问老板"]


async def test_changes_that_do_not_conflict_apply(app: Any) -> None:
    item = await assigned_request(app)
    cadre, chair = await officer(XBL_CADRE), await officer(XBL_CHAIR)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "reply",
                                   ActionInput(note="主席回复了"))
        note = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                            data=queued(token, seen, "note", "内部：老板难缠", cadre))
        reply = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                             data=queued(token, seen, "reply", "我也回一句", cadre))
        # Resolved by the chair meanwhile: a queued reply is still said, without reopening.
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "resolve",
                                   ActionInput(note="办好了"))
        late = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                            data=queued(token, seen, "reply", "补一句：钱周五到", cadre))
        # The cadre's own acknowledgement queued before their reply: nothing left to do.
        ack = await c.post(f"/officer/requests/{item.id}/acknowledge", headers=OUTBOX,
                           data=queued(token, 0, "acknowledge", by=cadre))
    assert note.status_code == reply.status_code == late.status_code == 303, late.text
    assert [e.note for e in await events(item.id, "note")] == ["内部：老板难缠"]
    assert [e.note for e in await events(item.id, "reply")] == [
        "主席回复了", "我也回一句", "补一句：钱周五到"]
    assert (await ServiceRequest.get(id=item.id)).status == Status.RESOLVED
    assert ack.status_code == 409  # resolved: not open, nothing to acknowledge
    assert len(await events(item.id, "acknowledged")) == 1


async def test_own_queued_acknowledge_after_own_reply_is_done(app: Any) -> None:
    item = await assigned_request(app)
    cadre = await officer(XBL_CADRE)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        reply = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                             data=queued(token, seen, "reply", "收到", cadre))
        ack = await c.post(f"/officer/requests/{item.id}/acknowledge", headers=OUTBOX,
                           data=queued(token, seen, "acknowledge", by=cadre))
    assert reply.status_code == ack.status_code == 303
    assert len(await events(item.id, "acknowledged")) == 1


async def test_acknowledge_of_a_request_reassigned_elsewhere_needs_attention(
        app: Any) -> None:
    item = await assigned_request(app)
    cadre, chair, other = (await officer(XBL_CADRE), await officer(XBL_CHAIR),
                           await officer(XBL_CADRE2))
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "reassign",
                                   ActionInput(assignee_id=other.id))
        answer = await c.post(f"/officer/requests/{item.id}/acknowledge", headers=OUTBOX,
                              data=queued(token, seen, "acknowledge", by=cadre))
        page = await c.post(f"/officer/requests/{item.id}/acknowledge",
                            data=queued(token, seen, "acknowledge", by=cadre))
    assert answer.status_code == 409
    body = answer.json()
    assert "换给别的干部" in body["message"]
    # Out of the cadre's sight now: nothing of the request's present state is told.
    assert body["conflict"]["now"]["since"] == [] and body["conflict"]["may_retry"] is False
    assert page.status_code == 409 and "换给别的干部" in page.text
    assert await events(item.id, "acknowledged") == []


async def test_conflict_on_the_page_shows_both_states_and_keeps_the_words(app: Any) -> None:
    item = await assigned_request(app)
    cadre, chair = await officer(XBL_CADRE), await officer(XBL_CHAIR)
    async with officer_client(app, XBL_CADRE) as c:
        token, seen = await token_and_seen(c, item.id)
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "escalate",
                                   ActionInput())
        answer = await c.post(f"/officer/requests/{item.id}/act",
                              data=queued(token, seen, "resolve", "我这边办好了", cadre))
    assert answer.status_code == 409
    html = answer.text
    assert 'id="conflict"' in html and "需要处理" in html
    assert "我这边办好了" in html and "办结" in html  # what the officer wanted …
    assert "new-since" in html  # … and what happened since, marked on the timeline
    new_seen = (await ServiceRequest.get(id=item.id)).last_event_id
    assert f'name="seen" value="{new_seen}"' in html  # pressing again is deliberate
    assert await events(item.id, "resolved") == []


async def test_an_item_queued_by_another_officer_is_not_sent_under_this_one(
        app: Any) -> None:
    item = await assigned_request(app)
    chair = await officer(XBL_CHAIR)
    cadre = await officer(XBL_CADRE)
    async with officer_client(app, XBL_CHAIR) as c:
        token, seen = await token_and_seen(c, item.id)
        answer = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                              data=queued(token, seen, "reply", "别人的话", cadre))
        mine = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                            data=queued(token, seen, "note", "主席的备注", chair))
    assert answer.status_code == 422 and "另一位干部" in answer.json()["message"]
    assert await events(item.id, "reply") == []
    assert mine.status_code == 303


async def test_outbox_send_without_a_session_stays_queued(app: Any) -> None:
    item = await assigned_request(app)
    async with new_client(app) as c:
        token = csrf_of((await c.get("/officer/login")).text)
        answer = await c.post(f"/officer/requests/{item.id}/act", headers=OUTBOX,
                              data={"csrf_token": token, "client_id": str(uuid.uuid4()),
                                    "action": "reply", "note": "x", "seen": "0"})
        browser = await c.post(f"/officer/requests/{item.id}/act",
                               data={"csrf_token": token, "action": "reply", "note": "x"})
    # Not a redirect (which the outbox takes for "arrived"): kept as "needs attention".
    assert answer.status_code == 401 and "重新登录" in answer.json()["message"]
    assert browser.status_code == 303  # a person at the page still goes to the login
    assert await events(item.id, "reply") == []


async def test_officer_pages_are_named_by_session_for_the_offline_cache(app: Any) -> None:
    item = await assigned_request(app)
    header = "x-lianxin-officer-cache"
    keys = []
    for _ in range(2):
        async with officer_client(app, XBL_CADRE) as c:
            queue = await c.get("/officer/requests")
            page = await c.get(f"/officer/requests/{item.id}")
            home = await c.get("/officer")
            assert queue.headers[header] == page.headers[header]
            assert header not in home.headers
            assert "no-store" in page.headers["cache-control"]
            keys.append(page.headers[header])
    assert len(keys[0]) == 32 and keys[0] != keys[1]  # another sign-in, another name
