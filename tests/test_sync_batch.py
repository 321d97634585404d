"""The outbox's batch endpoint: many queued requests in one POST, each answered on its own,
exactly once by client_id whatever is replayed or sent twice at the same time."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from server.models import EventKind, Member, RequestEvent, ServiceRequest
from server.services import requests as svc
from tests.conftest import csrf_of
from tests.factories import make_member, member_client


def item(text: str, category: str = "living", client_id: str | None = None,
         **extra: str) -> dict[str, Any]:
    fields = {"client_id": client_id or str(uuid.uuid4()), "category": category,
              "description": text, "urgency": "normal", "anonymous": "management", **extra}
    return {"id": fields["client_id"], "fields": [[k, v] for k, v in fields.items()]}


async def post_batch(c: httpx.AsyncClient, items: list[dict[str, Any]],
                     token: str | None = None) -> httpx.Response:
    if token is None:
        token = csrf_of((await c.get("/requests/new")).text)
    return await c.post("/requests/sync", json={"items": items},
                        headers={"X-CSRF-Token": token})


async def test_batch_files_each_item_once_with_its_own_answer(app: Any) -> None:
    member = await make_member(app)
    tag = uuid.uuid4().hex[:6]
    good = [item(f"批量 {tag} {i}") for i in range(5)]
    bad = item("", category="wages")  # no description (and no voice)
    unknown = item(f"批量 {tag} x", category="lottery")
    async with member_client(app, member) as c:
        r = await post_batch(c, [*good, bad, unknown])
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert [x["id"] for x in results] == [x["id"] for x in [*good, bad, unknown]]
        assert [x["status"] for x in results] == [201] * 5 + [422, 422]
        # Neither words nor a voice message (a batch item never carries one).
        assert "请写几句话说明情况，或者录一段语音" in results[5]["message"]
        assert "诉求类别" in results[6]["message"]
        # Replayed (the answer was lost): the same requests, nothing new, answered as synced.
        again = (await post_batch(c, good)).json()["results"]
        assert [x["status"] for x in again] == [200] * 5
        assert [x["location"] for x in again] == [x["location"] for x in results[:5]]
        # Each synced item leads to the worker's own request page.
        assert (await c.get(results[0]["location"])).status_code == 200
    rows = await ServiceRequest.filter(description__startswith=f"批量 {tag}")
    assert len(rows) == 5
    for row in rows:
        events = await RequestEvent.filter(request_id=row.id)
        assert [e.kind for e in events] == [EventKind.SUBMITTED]
        assert row.last_event_id == row.last_public_event_id == row.worker_seen_event_id == \
            events[0].id
        assert row.assignee_id == member.liaison_id  # type: ignore[attr-defined]
        assert row.ack_due_at > row.created_at and row.resolve_due_at > row.ack_due_at


async def test_a_batch_item_matches_the_single_form_post(app: Any) -> None:
    """Sent alone or in a batch, the same client_id is the same request."""
    member = await make_member(app)
    it = item("宿舍漏雨")
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        form = dict(it["fields"]) | {"csrf_token": csrf_of(page.text)}
        assert (await c.post("/requests/new", data=form)).status_code == 303
        answer = (await post_batch(c, [it])).json()["results"][0]
    assert answer["status"] == 200
    assert await ServiceRequest.filter(client_id=it["id"]).count() == 1


async def test_concurrent_batches_of_the_same_items_file_once(app: Any) -> None:
    """Two tabs (or a tab and the service worker) flushing the same outbox at once. An item
    another flush is filing at that moment may count against the hourly quota twice and be
    answered 429 (the outbox tries it again later, when it is a replay); never filed twice."""
    member = await make_member(app)
    tag = uuid.uuid4().hex[:6]
    items = [item(f"并发 {tag} {i}") for i in range(10)]
    async with member_client(app, member) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        answers = await asyncio.gather(*(post_batch(c, items, token) for _ in range(4)))
        assert all(a.status_code == 200 for a in answers)
        statuses = [x["status"] for a in answers for x in a.json()["results"]]
        assert set(statuses) <= {200, 201, 429}
        assert statuses.count(201) == 10
        again = (await post_batch(c, items, token)).json()["results"]
        assert [x["status"] for x in again] == [200] * 10
    rows = await ServiceRequest.filter(description__startswith=f"并发 {tag}")
    assert len(rows) == 10
    assert await RequestEvent.filter(request_id__in=[r.id for r in rows]).count() == 10


async def test_batch_refusals(app: Any) -> None:
    member = await make_member(app)
    other = await make_member(app, name="王二")
    taken = item("别人的编号")
    async with member_client(app, other) as c:
        assert (await post_batch(c, [taken])).json()["results"][0]["status"] == 201
    async with member_client(app, member) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        # Someone else's client_id: refused for this item only, nothing changes hands.
        mine = item("我的")
        results = (await post_batch(c, [taken, mine], token)).json()["results"]
        assert [x["status"] for x in results] == [409, 201]
        assert "表单编号无效" in results[0]["message"]
        # No CSRF header, a wrong one, a form body, malformed or oversized batches.
        no_csrf = await c.post("/requests/sync", json={"items": [item("x")]})
        assert no_csrf.status_code == 403
        assert (await post_batch(c, [item("x")], "nope")).status_code == 403
        as_form = await c.post("/requests/sync", data={"items": "x"},
                               headers={"X-CSRF-Token": token})
        assert as_form.status_code == 415
        for body in ["{", "[]", '{"items": []}', '{"items": [1]}',
                     '{"items": [{"id": 1, "fields": []}]}',
                     '{"items": [{"id": "a", "fields": [["a", 1]]}]}']:
            r = await c.post("/requests/sync", content=body, headers={
                "X-CSRF-Token": token, "content-type": "application/json"})
            assert r.status_code == 400, body
        too_many = [item(f"多 {i}") for i in range(svc.MAX_BATCH + 1)]
        assert (await post_batch(c, too_many, token)).status_code == 400
    assert await ServiceRequest.filter(description__in=["x", "多 0"]).count() == 0
    # Not a member: the same refusal as the single form.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as stranger:
        assert (await stranger.post("/requests/sync", json={"items": [item("x")]},
                                    headers={"X-CSRF-Token": token})).status_code == 403


async def test_pending_member_batch_is_refused_per_item(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        await Member.filter(id=member.id).update(status="pending")
        results = (await post_batch(c, [item("还没批准")], token)).json()["results"]
    assert results[0]["status"] == 409
    assert "入会申请通过后" in results[0]["message"]
    assert not await ServiceRequest.exists(description="还没批准")


async def test_batch_rows_equal_rows_filed_one_by_one(app: Any) -> None:
    """The batch path writes rows by hand for speed: they must read back exactly like the
    ORM's, field by field, on either database."""
    from datetime import UTC, datetime

    from server.models import Anonymity, Category, Urgency

    member = await make_member(app)
    now = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    one = svc.NewRequest(uuid.uuid4(), Category.WAGES, "单个", Urgency.URGENT, Anonymity.ALL)
    two = svc.NewRequest(uuid.uuid4(), Category.WAGES, "批量", Urgency.URGENT, Anonymity.ALL)
    single = (await svc.file_request(member, one, [], now=now)).request
    await svc.file_requests(member, [two], now=now)
    batched = await ServiceRequest.get(client_id=two.client_id)
    single = await ServiceRequest.get(id=single.id)
    # Every column: the ones that must differ (the key, the text, the ids) are compared with
    # what each must be instead.
    own = {"id", "client_id", "description", "last_event_id", "last_public_event_id",
           "worker_seen_event_id"}
    same = [n for n in ServiceRequest._meta.fields_db_projection if n not in own]
    assert {n: getattr(batched, n) for n in same} == {n: getattr(single, n) for n in same}
    assert (single.client_id, batched.client_id) == (one.client_id, two.client_id)
    assert (single.description, batched.description) == ("单个", "批量")
    e1 = await RequestEvent.get(request_id=single.id)
    e2 = await RequestEvent.get(request_id=batched.id)
    same = [n for n in RequestEvent._meta.fields_db_projection
            if n not in {"id", "request_id", "client_id"}]
    assert {n: getattr(e1, n) for n in same} == {n: getattr(e2, n) for n in same}
    assert (e1.request_id, e2.request_id) == (single.id, batched.id)  # type: ignore[attr-defined]
    assert (e1.client_id, e2.client_id) == (one.client_id, two.client_id)
    for row, event in ((single, e1), (batched, e2)):
        assert (row.last_event_id, row.last_public_event_id, row.worker_seen_event_id) == (
            event.id, event.id, event.id)
