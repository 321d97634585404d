"""A renewed push subscription (`pushsubscriptionchange` in sw/sw.js): the service worker
reads the CSRF token from GET /push/csrf and posts the new subscription with `old_endpoint`;
the server drops the old one only if it belongs to the same person, and moves what was still
waiting for it."""

from __future__ import annotations

from typing import Any

import httpx

from server.models import Delivery, Officer, PushSubscription, ServiceRequest
from server.services.lifecycle import ActionInput, apply_officer_action
from tests import test_push
from tests.conftest import XBL_CADRE, new_client
from tests.factories import make_member, make_request, member_client, officer_client
from tests.test_push import PushEndpoint, drain

endpoint = test_push.endpoint
push_settings = test_push.push_settings


async def sw_token(c: httpx.AsyncClient) -> str:
    """What the service worker does first: no page, so it asks for the session's token."""
    answer = await c.get("/push/csrf")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-type"].startswith("application/json")
    return str(answer.json()["csrf"])


async def post_subscription(c: httpx.AsyncClient, body: dict[str, Any],
                            token: str) -> httpx.Response:
    return await c.post("/push/subscriptions", json=body, headers={
        "X-CSRF-Token": token, "Accept": "application/json"})


async def test_csrf_for_the_service_worker(app: Any, endpoint: PushEndpoint,
                                           push_settings: Any) -> None:
    async with new_client(app) as anonymous:
        assert (await anonymous.get("/push/csrf")).status_code == 403
        assert "set-cookie" not in (await anonymous.get("/push/csrf")).headers
    member = await make_member(app)
    async with member_client(app, member) as c:
        token = await sw_token(c)
        page = await c.get("/inbox")
        assert f'<meta name="csrf-token" content="{token}">' in page.text
        data = endpoint.subscription()
        assert (await post_subscription(c, data, "not-the-token")).status_code == 403
        assert (await c.post("/push/subscriptions", json=data)).status_code == 403
        assert (await post_subscription(c, data, token)).status_code == 201


async def test_renewal_replaces_the_old_endpoint_and_keeps_waiting_messages(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        token = await sw_token(c)
        old = endpoint.subscription()
        assert (await post_subscription(c, old, token)).status_code == 201
        old_row = await PushSubscription.get(endpoint=old["endpoint"])
        # An answer is queued for the old endpoint before the phone renews.
        item = await make_request(member)
        assignee = await Officer.get(
            id=(await ServiceRequest.get(id=item.id)).assignee_id).select_related("union")  # type: ignore[attr-defined]
        await apply_officer_action(assignee, await ServiceRequest.get(id=item.id), "reply",
                                   ActionInput(note="已处理"))
        waiting = await Delivery.get(subscription_id=old_row.id, member_id=member.id)
        new = endpoint.subscription()
        answer = await post_subscription(c, {**new, "old_endpoint": old["endpoint"]}, token)
        assert answer.status_code == 201 and answer.json()["replaced"] is True
    assert not await PushSubscription.exists(endpoint=old["endpoint"])
    new_row = await PushSubscription.get(endpoint=new["endpoint"])
    assert new_row.member_id == member.id  # type: ignore[attr-defined]
    assert (await Delivery.get(id=waiting.id)).subscription_id == new_row.id  # type: ignore[attr-defined]
    await drain(push_settings)
    tag = f"request-{item.id}"
    old_path = str(old["endpoint"]).removeprefix(endpoint.origin)
    new_path = str(new["endpoint"]).removeprefix(endpoint.origin)
    assert endpoint.count([old_path, new_path], tag) == {(new_path, tag): 1}
    assert (await Delivery.get(id=waiting.id)).status == "sent"


async def test_renewal_never_drops_another_persons_endpoint(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    victim, other = await make_member(app), await make_member(app)
    async with member_client(app, victim) as c:
        theirs = endpoint.subscription()
        assert (await post_subscription(c, theirs, await sw_token(c))).status_code == 201
    async with member_client(app, other) as c:
        mine = endpoint.subscription()
        answer = await post_subscription(
            c, {**mine, "old_endpoint": theirs["endpoint"]}, await sw_token(c))
        assert answer.status_code == 201 and answer.json()["replaced"] is False
    kept = await PushSubscription.get(endpoint=theirs["endpoint"])
    assert kept.member_id == victim.id  # type: ignore[attr-defined]
    assert (await PushSubscription.get(endpoint=mine["endpoint"])).member_id == other.id  # type: ignore[attr-defined]
    # An officer cannot drop a worker's either.
    async with officer_client(app, XBL_CADRE) as c:
        answer = await post_subscription(
            c, {**endpoint.subscription(), "old_endpoint": theirs["endpoint"]},
            await sw_token(c))
        assert answer.json()["replaced"] is False
    assert await PushSubscription.exists(endpoint=theirs["endpoint"])


async def test_an_officer_renews_too(app: Any, endpoint: PushEndpoint,
                                     push_settings: Any) -> None:
    cadre = await Officer.get(phone=XBL_CADRE)
    async with officer_client(app, XBL_CADRE) as c:
        token = await sw_token(c)
        old, new = endpoint.subscription(), endpoint.subscription()
        assert (await post_subscription(c, old, token)).status_code == 201
        answer = await post_subscription(c, {**new, "old_endpoint": old["endpoint"]}, token)
        assert answer.json()["replaced"] is True
        # Sent twice (a retried renewal): nothing more to drop, the new one stays.
        again = await post_subscription(c, {**new, "old_endpoint": old["endpoint"]}, token)
        assert again.status_code == 201 and again.json()["replaced"] is False
    assert not await PushSubscription.exists(endpoint=old["endpoint"])
    assert (await PushSubscription.get(endpoint=new["endpoint"])).officer_id == cadre.id  # type: ignore[attr-defined]


def test_encryption_is_what_http_ece_decrypts() -> None:
    """server.services.push.encrypt (RFC 8291, aes128gcm) against the library pywebpush
    builds on: a phone's browser decrypts what http_ece does."""
    import os

    import http_ece
    import pytest
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from server.services import push

    phone = ec.generate_private_key(ec.SECP256R1())
    point = phone.public_key().public_bytes(serialization.Encoding.X962,
                                            serialization.PublicFormat.UncompressedPoint)
    auth = os.urandom(16)
    payload = push.notice_payload(7, "本周六发放工资")
    bodies = {push.encrypt(push.b64url(point), push.b64url(auth), payload) for _ in range(3)}
    assert len(bodies) == 3  # a new key pair and salt every time
    for body in bodies:
        assert http_ece.decrypt(body, private_key=phone, auth_secret=auth,
                                version="aes128gcm") == payload
    with pytest.raises(ValueError):
        push.encrypt(push.b64url(point), push.b64url(auth), b"x" * (push.MAX_PAYLOAD + 1))
