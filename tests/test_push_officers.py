"""Pushes for cadres and chairs: turned on from /officer/inbox, one per inbox item (assigned,
follow-up, reopened, overdue, escalated to me), with lock-screen text that names neither the
request's content nor its filer. The local push-service stand-in of tests/test_push.py
verifies the VAPID signature and decrypts every message."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from server.models import Anonymity, Officer, PushSubscription, ServiceRequest
from server.services.escalation import run_deadline_job
from server.services.lifecycle import ActionInput, apply_officer_action, apply_worker_action
from tests import test_push
from tests.conftest import XBL_CHAIR, XBL_MANAGER, login
from tests.factories import make_member, make_request, member_client, officer_client
from tests.test_push import PushEndpoint, csrf_of, drain

# The push-service stand-in and the settings that allow it, as tests/test_push.py has them.
endpoint = test_push.endpoint
push_settings = test_push.push_settings


async def turn_on(c: httpx.AsyncClient, ep: PushEndpoint) -> tuple[str, httpx.Response]:
    """What static/js/push.js does on /officer/inbox once the browser has subscribed."""
    page = await c.get("/officer/inbox")
    assert page.status_code == 200
    data = ep.subscription()
    answer = await c.post("/push/subscriptions", json=data, headers={
        "X-CSRF-Token": csrf_of(page.text), "Accept": "application/json"})
    return str(data["endpoint"]), answer


async def test_officer_inbox_offers_pushes_to_those_who_get_items(app: Any) -> None:
    async with officer_client(app, XBL_CHAIR) as c:
        page = (await c.get("/officer/inbox")).text
    assert 'id="push-optin"' in page and "开启手机通知" in page and "/static/js/push" in page
    # The promise about the lock screen, in plain words.
    assert "不显示诉求内容" in page and "不显示工友的名字" in page
    async with officer_client(app, XBL_MANAGER) as c:
        assert 'id="push-optin"' not in (await c.get("/officer/inbox")).text


async def test_officer_subscription_receives_the_events_assigned_to_them(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    member = await make_member(app, name="欧阳秘密")
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    paths: dict[int, str] = {}
    for officer in (cadre, chair):
        async with officer_client(app, officer.phone) as c:
            url, answer = await turn_on(c, endpoint)
        assert answer.status_code == 201, answer.text
        row = await PushSubscription.get(endpoint=url)
        assert (row.officer_id, row.member_id) == (officer.id, None)  # type: ignore[attr-defined]
        paths[officer.id] = url.removeprefix(endpoint.origin)

    secret = "塔吊底座裂缝-DESC-5c1e 班长姓钱"
    item = await make_request(member, text=secret, anonymity=Anonymity.ALL)
    request = await ServiceRequest.get(id=item.id)
    assert request.assignee_id == cadre.id  # type: ignore[attr-defined]
    await apply_worker_action(member, request, "worker_reply",
                              ActionInput(note="又漏水了-NOTE-2"))
    await apply_officer_action(cadre, await ServiceRequest.get(id=item.id), "resolve",
                               ActionInput(note="已修好"))
    await apply_worker_action(member, await ServiceRequest.get(id=item.id), "reopen",
                              ActionInput(note="没修好-NOTE-3"))
    # Another request the cadre passes up to the chair by hand.
    passed = await make_request(member, text=secret)
    await apply_officer_action(cadre, await ServiceRequest.get(id=passed.id), "escalate",
                               ActionInput(note="需要主席协调"))
    # Nobody answers the first for weeks: the deadline job passes it up to the chair, and
    # its pushes are due from then.
    later = datetime.now(UTC) + timedelta(days=40)
    await run_deadline_job(later)
    await drain(push_settings, later)
    assert not endpoint.refused

    tag = f"request-{item.id}"
    page = f"/officer/requests/{item.id}"

    def got(officer: Officer, tag: str) -> Counter[tuple[str, str]]:
        return Counter((r.payload["title"], r.payload["url"]) for r in endpoint.received
                       if r.path == paths[officer.id] and r.payload["tag"] == tag)

    assert got(cadre, tag) == Counter({
        ("新诉求交给你办理", page): 1, ("工友补充了情况", page): 1,
        ("工友说问题没有解决", page): 1, ("诉求超时，已自动上报", page): 1})
    assert got(chair, tag) == Counter({("诉求超时，已自动上报", page): 1})
    escalated = f"/officer/requests/{passed.id}"
    assert got(chair, f"request-{passed.id}") == Counter({("有诉求上报给你", escalated): 1})
    for message in endpoint.received:
        if message.payload["tag"] in (tag, f"request-{passed.id}"):
            for word in ("DESC", "塔吊", "欧阳", "秘密", "NOTE", "漏水", member.phone):
                assert word not in message.plaintext, (word, message.payload)


async def test_one_person_signed_in_as_both_gets_both_on_one_phone(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    member = await make_member(app)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    async with member_client(app, member) as c:
        await login(c, cadre.phone)
        url, answer = await turn_on(c, endpoint)
        assert answer.status_code == 201
        row = await PushSubscription.get(endpoint=url)
        assert (row.member_id, row.officer_id) == (member.id, cadre.id)  # type: ignore[attr-defined]
        # Someone else's phone is not theirs to turn off.
        other = endpoint.subscription()
        other_member = await make_member(app)
        async with member_client(app, other_member) as o:
            inbox = await o.get("/inbox")
            assert (await o.post("/push/subscriptions", json=other, headers={
                "X-CSRF-Token": csrf_of(inbox.text)})).status_code == 201
        page = await c.get("/officer/inbox")
        headers = {"X-CSRF-Token": csrf_of(page.text)}
        refused = await c.post("/push/subscriptions/delete", headers=headers,
                               json={"endpoint": other["endpoint"]})
        assert refused.json()["removed"] is False
        assert await PushSubscription.exists(endpoint=other["endpoint"])
        gone = await c.post("/push/subscriptions/delete", headers=headers,
                            json={"endpoint": url})
        assert gone.json()["removed"] is True
        assert not await PushSubscription.exists(endpoint=url)
