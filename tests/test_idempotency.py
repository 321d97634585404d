"""Idempotency keys are not credentials: a replayed client_id answers as the first time only
to the same person with the same content; anyone else, or other content, is refused."""

from __future__ import annotations

import uuid
from typing import Any

from server.models import Member, Officer, RequestEvent, ServiceRequest, Status
from server.services.lifecycle import ActionInput, apply_officer_action, apply_worker_action
from tests.conftest import XBL_CHAIR, csrf_of
from tests.factories import make_member, make_request, member_client
from tests.test_sync_batch import item, post_batch


def form(client_id: str, text: str, category: str = "living") -> dict[str, str]:
    return {"client_id": client_id, "category": category, "description": text,
            "anonymous": "management"}


async def test_request_replay_answers_only_the_same_member_and_content(app: Any) -> None:
    owner, other = await make_member(app), await make_member(app)
    key = str(uuid.uuid4())
    async with member_client(app, owner) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        first = await c.post("/requests/new", data={**form(key, "宿舍漏雨"), "csrf_token": token})
        again = await c.post("/requests/new", data={**form(key, "宿舍漏雨"), "csrf_token": token})
        changed = await c.post("/requests/new",
                               data={**form(key, "另一件事：工资没发"), "csrf_token": token})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert changed.status_code == 409 and "表单编号无效" in changed.text
    async with member_client(app, other) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        stolen = await c.post("/requests/new", data={**form(key, "宿舍漏雨"), "csrf_token": token})
        page = await c.get(first.headers["location"])
    # Refused, and nothing of the owner's request comes back (the form echoes only what
    # this member typed).
    assert stolen.status_code == 409 and first.headers["location"] not in stolen.text
    assert page.status_code == 404
    assert await ServiceRequest.filter(client_id=key).count() == 1
    assert await ServiceRequest.filter(member_id=other.id).count() == 0


async def test_batch_items_sharing_a_client_id_are_each_answered(app: Any) -> None:
    member = await make_member(app)
    key = str(uuid.uuid4())
    same = item("同一个", client_id=key)
    changed = item("不一样", client_id=key)
    changed["id"] = "second-outbox-item"
    async with member_client(app, member) as c:
        response = await post_batch(c, [same, changed])
    results = response.json()["results"]
    assert [r["id"] for r in results] == [key, "second-outbox-item"]
    assert results[0]["status"] == 201
    assert results[1]["status"] == 409 and "表单编号无效" in results[1]["message"]
    assert await ServiceRequest.filter(client_id=key).values_list("description",
                                                                  flat=True) == ["同一个"]


async def test_batch_items_claiming_one_outbox_id_are_refused_together(app: Any) -> None:
    member = await make_member(app)
    one, two = item("第一条"), item("第二条")
    two["id"] = one["id"]
    async with member_client(app, member) as c:
        response = await post_batch(c, [one, two])
    # Refused whole: the outbox then sends each on its own, so neither is lost.
    assert response.status_code == 400
    assert not await ServiceRequest.filter(member_id=member.id).exists()


async def test_batch_replay_of_another_members_key_is_refused(app: Any) -> None:
    owner, other = await make_member(app), await make_member(app)
    filed = await make_request(owner, text="别人的诉求")
    async with member_client(app, other) as c:
        results = (await post_batch(c, [item("别人的诉求", category="wages",
                                             client_id=str(filed.client_id))])).json()["results"]
    assert results[0]["status"] == 409 and "location" not in results[0]


async def test_worker_action_replay_needs_the_same_content(app: Any) -> None:
    member = await make_member(app)
    request = await make_request(member)
    key = uuid.uuid4()
    first = await apply_worker_action(member, request, "worker_reply",
                                      ActionInput(note="补充：三月和四月", client_id=key))
    again = await apply_worker_action(member, request, "worker_reply",
                                      ActionInput(note="补充：三月和四月", client_id=key))
    assert again.id == first.id
    try:
        await apply_worker_action(member, request, "worker_reply",
                                  ActionInput(note="别的内容", client_id=key))
    except Exception as exc:
        assert "表单编号无效" in str(exc)
    else:
        raise AssertionError("a reused key with other content was accepted")
    assert await RequestEvent.filter(request_id=request.id, kind="worker_reply").count() == 1
    # Another member's request with the same key: refused, nothing written there.
    other = await make_member(app)
    theirs = await make_request(other)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    await apply_officer_action(chair, theirs, "resolve", ActionInput(note="已解决"))
    theirs = await ServiceRequest.get(id=theirs.id)
    try:
        await apply_worker_action(other, theirs, "confirm", ActionInput(client_id=key))
    except Exception as exc:
        assert "表单编号无效" in str(exc)
    else:
        raise AssertionError("another request's key was accepted")
    assert (await ServiceRequest.get(id=theirs.id)).status == Status.RESOLVED
    assert await Member.exists(id=other.id)


async def test_refused_form_answers_json_to_the_outbox(app: Any) -> None:
    """A background send asks for JSON and reads the message from it, not from HTML."""
    member = await make_member(app)
    async with member_client(app, member) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        refused = await c.post("/requests/new", data={
            "client_id": str(uuid.uuid4()), "category": "nonsense", "description": "",
            "csrf_token": token}, headers={"Accept": "application/json",
                                           "X-Lianxin-Outbox": "1"})
    assert refused.status_code == 422
    body = refused.json()
    assert set(body["errors"]) == {"category", "description"}
    assert body["message"] == "；".join(body["errors"].values())
