"""Web Push and the delivery queue, against a local HTTP endpoint standing in for the push
service: it verifies each message's VAPID JWT (RFC 8292) and decrypts its aes128gcm body
(RFC 8291, implemented here independently of the sender's library)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from server.db import transaction
from server.models import (
    Anonymity,
    Delivery,
    FanoutJob,
    Member,
    Notice,
    Officer,
    PushSubscription,
    ServiceRequest,
)
from server.services import delivery, push, shared
from server.services.delivery import LEASE, Worker
from server.services.lifecycle import ActionInput, apply_officer_action
from server.settings import SettingsError, load
from tests.conftest import XBL_CADRE, XBL_CHAIR, new_client, settings_for
from tests.factories import make_member, make_request, member_client, officer_client

ROOT = Path(__file__).resolve().parent.parent


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_META.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hkdf(salt: bytes, ikm: bytes, info: bytes, length: int) -> bytes:
    return HKDF(hashes.SHA256(), length, salt, info).derive(ikm)


def rfc8291_decrypt(body: bytes, receiver: ec.EllipticCurvePrivateKey, auth: bytes) -> bytes:
    salt, rs, idlen = body[:16], int.from_bytes(body[16:20], "big"), body[20]
    sender_raw = body[21:21 + idlen]
    ciphertext = body[21 + idlen:]
    assert idlen == 65 and rs >= 18 and len(ciphertext) <= rs  # one record
    sender = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sender_raw)
    receiver_raw = receiver.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    shared = receiver.exchange(ec.ECDH(), sender)
    ikm = hkdf(auth, shared, b"WebPush: info\x00" + receiver_raw + sender_raw, 32)
    cek = hkdf(salt, ikm, b"Content-Encoding: aes128gcm\x00", 16)
    nonce = hkdf(salt, ikm, b"Content-Encoding: nonce\x00", 12)
    padded = AESGCM(cek).decrypt(nonce, ciphertext, None).rstrip(b"\x00")
    assert padded.endswith(b"\x02"), "last record must end with the 0x02 delimiter"
    return padded[:-1]


def verify_vapid(header: str, public_key: str, origin: str) -> dict[str, Any]:
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    assert parts["k"] == public_key
    signing_input, _, signature = parts["t"].rpartition(".")
    raw = unb64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(public_key))
    key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    head = json.loads(unb64(signing_input.split(".")[0]))
    assert head == {"typ": "JWT", "alg": "ES256"}
    claims: dict[str, Any] = json.loads(unb64(signing_input.split(".")[1]))
    assert claims["aud"] == origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith("mailto:")
    return claims


@dataclasses.dataclass
class Received:
    path: str
    payload: dict[str, Any]
    plaintext: str
    ttl: int


class PushEndpoint:
    """The push service: accepts, verifies, decrypts and records; answers what a test asks."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self.replies: dict[str, list[int]] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.delay = 0.0
        self.public_key = ""
        self.origin = ""
        self.runner: web.AppRunner | None = None

    def subscription(self, kind: str = "ok") -> dict[str, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        path = f"/{kind}/{secrets.token_hex(8)}"
        self.keys[path] = (key, auth)
        point = key.public_key().public_bytes(serialization.Encoding.X962,
                                              serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.origin + path, "expirationTime": None,
                "keys": {"p256dh": b64(point), "auth": b64(auth)}}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.delay:
            await asyncio.sleep(self.delay)
        path = request.path
        try:
            verify_vapid(request.headers["Authorization"], self.public_key, self.origin)
            assert request.headers["Content-Encoding"] == "aes128gcm"
            key, auth = self.keys[path]
            plaintext = rfc8291_decrypt(body, key, auth).decode("utf-8")
        except (AssertionError, KeyError, InvalidSignature, ValueError) as exc:
            self.refused.append(f"{path}: {exc!r}")
            return web.Response(status=400, text="bad message")
        planned = self.replies.get(path)
        status = planned.pop(0) if planned else 201
        if status < 300:
            self.received.append(Received(path, json.loads(plaintext), plaintext,
                                          int(request.headers["TTL"])))
        return web.Response(status=status, text="gone" if status == 410 else "")

    def count(self, paths: list[str], tag: str = "") -> Counter[tuple[str, str]]:
        wanted = set(paths)
        return Counter((r.path, r.payload["tag"]) for r in self.received
                       if r.path in wanted and (not tag or r.payload["tag"] == tag))


@pytest.fixture(scope="module")
async def endpoint(app: Any) -> AsyncIterator[PushEndpoint]:
    ep = PushEndpoint()
    server = web.Application()
    server.router.add_post("/{kind}/{token}", ep.handle)
    ep.runner = web.AppRunner(server, access_log=None)
    await ep.runner.setup()
    site = web.TCPSite(ep.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    ep.origin = f"http://127.0.0.1:{port}"
    ep.public_key = push.public_key(app.state.settings)
    yield ep
    await ep.runner.cleanup()


@pytest.fixture
def push_settings(app: Any, endpoint: PushEndpoint) -> Iterator[Any]:
    original = app.state.settings
    settings = dataclasses.replace(original, push_hosts=(endpoint.origin,),
                                   push_contact="mailto:ops@union.example")
    app.state.settings = settings
    yield settings
    app.state.settings = original


async def subscribe(endpoint: PushEndpoint, settings: Any, kind: str = "ok", *,
                    member: Member | None = None, officer: Officer | None = None) -> str:
    data = endpoint.subscription(kind)
    await push.subscribe(push.clean(data, settings), member=member, officer=officer)
    return str(data["endpoint"]).removeprefix(endpoint.origin)


async def drain(settings: Any, now: datetime | None = None, **kwargs: Any) -> delivery.Stats:
    async with Worker(settings, **kwargs) as worker:
        return await worker.drain(now)


# --- the allow-list --------------------------------------------------------------------------

def test_endpoint_allow_list() -> None:
    hosts = load({"LIANXIN_SECRET_KEY": "x" * 40}).push_hosts
    assert push.endpoint_allowed("https://fcm.googleapis.com/fcm/send/abc", hosts)
    assert push.endpoint_allowed("https://wns2-by3p.notify.windows.com/w/?token=1", hosts)
    assert push.endpoint_allowed("https://web.push.apple.com/QGx", hosts)
    for bad in ("http://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com:8443/x",
                "https://notify.windows.com.evil.example/w", "https://evil.example/x",
                "https://127.0.0.1/x", "http://169.254.169.254/latest/meta-data",
                "https://user@fcm.googleapis.com/x", "https://fcm.googleapis.com.evil.cn/x",
                "ftp://fcm.googleapis.com/x", "not a url"):
        assert not push.endpoint_allowed(bad, hosts), bad
    local = ("http://127.0.0.1:8123",)
    assert push.endpoint_allowed("http://127.0.0.1:8123/push/1", local)
    assert not push.endpoint_allowed("http://127.0.0.1:8124/push/1", local)
    assert not push.endpoint_allowed("https://127.0.0.1:8123/push/1", local)
    with pytest.raises(SettingsError):
        load({"LIANXIN_SECRET_KEY": "x" * 40, "LIANXIN_PUSH_HOSTS": "http://a:1/path"})
    with pytest.raises(SettingsError):
        load({"LIANXIN_SECRET_KEY": "x" * 40, "LIANXIN_PUSH_CONTACT": "ops@union"})


async def test_subscribe_route_and_refusals(app: Any, endpoint: PushEndpoint,
                                            push_settings: Any) -> None:
    key = await new_client(app).get("/push/key")
    assert key.status_code == 200 and len(unb64(key.text)) == 65 and key.text == \
        endpoint.public_key
    member = await make_member(app, name="订阅人")
    async with member_client(app, member) as c:
        csrf = csrf_of((await c.get("/inbox")).text)
        headers = {"X-CSRF-Token": csrf, "Accept": "application/json"}
        data = endpoint.subscription()
        first = await c.post("/push/subscriptions", json=data, headers=headers)
        again = await c.post("/push/subscriptions", json=data, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["id"] == again.json()["id"]
        assert await PushSubscription.filter(member_id=member.id).count() == 1
        assert (await c.post("/push/subscriptions", json=data)).status_code == 403  # no CSRF
        for bad in ("https://127.0.0.1/x", "http://169.254.169.254/latest/meta-data",
                    "https://push.evil.example/x", endpoint.origin.replace("http:", "https:")
                    + "/ok/1", "http://127.0.0.1:1/ok/1"):
            refused = await c.post("/push/subscriptions", headers=headers,
                                   json={**data, "endpoint": bad})
            assert refused.status_code == 422, bad
            assert "不在允许范围" in refused.json()["error"]
            assert not await PushSubscription.exists(endpoint=bad)
        broken = await c.post("/push/subscriptions", headers=headers,
                              json={**data, "keys": {"p256dh": "AAAA", "auth": "x"}})
        assert broken.status_code == 400
        gone = await c.post("/push/subscriptions/delete", headers=headers,
                            json={"endpoint": data["endpoint"]})
        assert gone.json()["removed"] is True
        assert not await PushSubscription.filter(member_id=member.id).exists()
    async with new_client(app) as stranger:
        csrf = csrf_of((await stranger.get("/officer/login")).text)
        refused = await stranger.post("/push/subscriptions", json=endpoint.subscription(),
                                      headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 403


async def test_simultaneous_subscriptions_keep_one_row(app: Any, endpoint: PushEndpoint,
                                                       push_settings: Any) -> None:
    member = await make_member(app)
    data = endpoint.subscription()
    new = push.clean(data, push_settings)
    rows = await asyncio.gather(*(push.subscribe(new, member=member) for _ in range(40)))
    assert len({r.id for r in rows}) == 1
    assert await PushSubscription.filter(endpoint=data["endpoint"]).count() == 1


# --- what the lock screen shows --------------------------------------------------------------

async def test_reply_push_is_encrypted_signed_and_private(app: Any, endpoint: PushEndpoint,
                                                          push_settings: Any) -> None:
    member = await make_member(app, name="欧阳秘密")
    phone = await subscribe(endpoint, push_settings, member=member)
    officers = await Officer.filter(union_id=member.project.id, active=True)
    officer_paths = {o.id: await subscribe(endpoint, push_settings, officer=o)
                     for o in officers}
    description = "欠薪三个月-DESCRIPTION-7f3a 包工头姓赵"
    item = await make_request(member, text=description, anonymity=Anonymity.ALL)
    item = await ServiceRequest.get(id=item.id)
    assignee = await Officer.get(id=item.assignee_id).select_related("union")  # type: ignore[attr-defined]
    await apply_officer_action(assignee, item, "reply", ActionInput(note="已联系劳务公司 NOTE-91"))
    # Queued with the event, before any worker ran.
    queued = await Delivery.filter(inbox_item__request_id=item.id, member_id=member.id)
    assert [d.status for d in queued] == ["queued"]

    await drain(push_settings)
    assert not endpoint.refused
    # Notices other tests published reach this member too: look at this request's pushes.
    about = f"request-{item.id}"
    mine = [r for r in endpoint.received if r.path == phone and r.payload["tag"] == about]
    assert len(mine) == 1
    message = mine[0]
    assert message.payload["title"] == "你的诉求有新回复"
    assert message.payload["url"] == f"/requests/{item.id}"
    assert message.payload["tag"] == f"request-{item.id}"
    assert message.ttl >= 3600
    for secret in (description, "DESCRIPTION", "欧阳", "秘密", "NOTE-91", member.phone):
        assert secret not in message.plaintext
    theirs = [r for r in endpoint.received
              if r.path == officer_paths[assignee.id] and r.payload["tag"] == about]
    assert [(r.payload["title"], r.payload["url"]) for r in theirs] == [
        ("新诉求交给你办理", f"/officer/requests/{item.id}")]
    assert "DESCRIPTION" not in theirs[0].plaintext and "欧阳" not in theirs[0].plaintext
    sent = await Delivery.get(id=queued[0].id)
    assert sent.status == "sent" and sent.sent_at is not None and sent.attempts == 1
    assert (await PushSubscription.get(endpoint=endpoint.origin + phone)).last_success


async def test_delivery_is_written_and_rolled_back_with_its_event(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    member = await make_member(app)
    await subscribe(endpoint, push_settings, member=member)
    item = await ServiceRequest.get(id=(await make_request(member)).id)
    assignee = await Officer.get(id=item.assignee_id).select_related("union")  # type: ignore[attr-defined]
    mine = Delivery.filter(inbox_item__request_id=item.id, member_id=member.id)
    with pytest.raises(RuntimeError):
        async with transaction():
            await apply_officer_action(assignee, item, "reply", ActionInput(note="先回复"))
            assert await mine.count() == 1  # in the event's transaction
            raise RuntimeError("the event's transaction fails")
    assert not await mine.exists()


# --- notices: one job, expanded in batches, resumable ----------------------------------------

async def test_notice_fanout_resumes_and_sends_once(app: Any, endpoint: PushEndpoint,
                                                    push_settings: Any) -> None:
    from tests.test_notices import published

    members = [await make_member(app, project_code="chuangxingang") for _ in range(12)]
    paths = [await subscribe(endpoint, push_settings, member=m) for m in members]
    notice = await published(app, "13900000020", title="周五发工资", kind="wages", scope="project")
    # Publishing wrote one job and no deliveries.
    assert await FanoutJob.filter(notice_id=notice.id).count() == 1
    assert not await Delivery.filter(notice_id=notice.id).exists()

    now = datetime.now(UTC)
    while await delivery.expand_one_fanout(now, batch=5) is not None:
        pass  # other tests' jobs may come first; this drains every job
    job = await FanoutJob.get(notice_id=notice.id)
    assert job.done
    # A worker killed mid-job: rewind the saved progress and expire the lease, as if the last
    # batch's progress had not been saved; the UNIQUE constraint stops the doubles.
    await FanoutJob.filter(id=job.id).update(done=False, after_id=0, claimed_until=now)
    while await delivery.expand_one_fanout(now + LEASE * 2, batch=5) is not None:
        pass
    subs = await PushSubscription.filter(member_id__in=[m.id for m in members])
    assert await Delivery.filter(notice_id=notice.id, subscription_id__in=[s.id for s in subs]
                                 ).count() == len(members)
    await drain(push_settings)
    counts = endpoint.count(paths, f"notice-{notice.id}")
    assert counts == Counter({(p, f"notice-{notice.id}"): 1 for p in paths})
    sample = next(r for r in endpoint.received if r.path == paths[0]
                  and r.payload["tag"] == f"notice-{notice.id}")
    assert sample.payload == {"title": "周五发工资", "body": "连心桥 · 新通知",
                              "url": f"/notices/{notice.id}", "tag": f"notice-{notice.id}"}


# --- exactly once under concurrency and kills ------------------------------------------------

async def _queued_notice(app: Any, endpoint: PushEndpoint, settings: Any,
                         n: int) -> tuple[Notice, list[str]]:
    from tests.test_notices import published

    members = [await make_member(app, project_code="chuangxingang") for _ in range(n)]
    paths = [await subscribe(endpoint, settings, member=m) for m in members]
    notice = await published(app, "13900000020", title="安全帽检查", kind="safety", scope="project")
    while await delivery.expand_one_fanout(batch=1000) is not None:
        pass
    return notice, paths


async def _paths_of(endpoint: PushEndpoint, rows: Any) -> set[str]:
    sub_ids = await rows.values_list("subscription_id", flat=True)
    endpoints = await PushSubscription.filter(id__in=list(sub_ids)).values_list(
        "endpoint", flat=True)
    return {str(e).removeprefix(endpoint.origin) for e in endpoints}


async def test_two_workers_drain_one_queue_exactly_once(app: Any, endpoint: PushEndpoint,
                                                        push_settings: Any) -> None:
    notice, paths = await _queued_notice(app, endpoint, push_settings, 45)
    endpoint.delay = 0.01
    try:
        async with Worker(push_settings, batch=7) as one, Worker(push_settings, batch=7) as two:
            await asyncio.gather(one.drain(), two.drain())
    finally:
        endpoint.delay = 0.0
    everyone = await _paths_of(endpoint, Delivery.filter(notice_id=notice.id))
    assert set(paths) <= everyone
    assert endpoint.count(list(everyone), f"notice-{notice.id}") == Counter(
        {(p, f"notice-{notice.id}"): 1 for p in everyone})
    assert not await Delivery.filter(notice_id=notice.id).exclude(status="sent").exists()


async def test_forty_simultaneous_claims_are_disjoint(app: Any, endpoint: PushEndpoint,
                                                      push_settings: Any) -> None:
    notice, _ = await _queued_notice(app, endpoint, push_settings, 50)
    workers = [Worker(push_settings, batch=3) for _ in range(40)]
    now = datetime.now(UTC)
    claimed = await asyncio.gather(*(w.claim(now) for w in workers))
    ids = [i for batch in claimed for i in batch]
    assert len(ids) == len(set(ids)) and len(ids) >= 50
    # Leave nothing claimed for the tests after this one.
    await drain(push_settings, now + LEASE * 2)
    assert not await Delivery.filter(notice_id=notice.id).exclude(status="sent").exists()


async def test_killed_worker_lease_expires_nothing_lost_nothing_doubled(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    notice, paths = await _queued_notice(app, endpoint, push_settings, 20)
    now = datetime.now(UTC)
    # Worker A claims a batch and is killed before it sends anything.
    victim = Worker(push_settings, batch=8)
    taken = await victim.claim(now)
    assert taken
    # B drains now: it cannot take A's rows while A's lease holds.
    await drain(push_settings, now)
    held = await _paths_of(endpoint, Delivery.filter(id__in=taken))
    assert len(held) == len(taken)
    assert not endpoint.count(list(held), f"notice-{notice.id}")
    assert await Delivery.filter(id__in=taken, status="sending").count() == len(taken)
    # After the lease, B takes them: everything delivered, nothing twice.
    await drain(push_settings, now + LEASE + timedelta(seconds=1))
    everyone = await _paths_of(endpoint, Delivery.filter(notice_id=notice.id))
    assert set(paths) <= everyone
    assert endpoint.count(list(everyone), f"notice-{notice.id}") == Counter(
        {(p, f"notice-{notice.id}"): 1 for p in everyone})
    # A, back from the dead, cannot overwrite B's marks.
    await victim._mark([delivery.Outcome(taken[0], None, "failed", "late")], {}, now)
    assert (await Delivery.get(id=taken[0])).status == "sent"


async def test_worker_process_killed_mid_batch(app: Any, endpoint: PushEndpoint,
                                               push_settings: Any, db_url: str,
                                               tmp_root: Path) -> None:
    """A real `lianxin worker` killed with SIGKILL while its batch is at the push service:
    every message arrives; one sent twice can only be one the killed worker had in flight
    (the documented at-least-once window)."""
    notice, paths = await _queued_notice(app, endpoint, push_settings, 30)
    endpoint.delay = 0.3
    env = {**os.environ, "LIANXIN_DB_URL": db_url,
           "LIANXIN_SECRET_KEY": push_settings.secret_key,
           "LIANXIN_SECRET_FILE": push_settings.secret_file,
           "LIANXIN_PUSH_HOSTS": endpoint.origin, "LIANXIN_DEADLINE_JOB_SECONDS": "0"}
    command = [str(Path(sys.executable).parent / "lianxin"), "worker", "--batch", "10",
               "--interval", "0.2"]
    proc = subprocess.Popen(command, env=env, cwd=tmp_root,  # noqa: ASYNC220
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(600):
            await asyncio.sleep(0.05)
            if endpoint.count(paths) or proc.poll() is not None:
                break
        await asyncio.sleep(0.1)
        in_flight = set(await Delivery.filter(notice_id=notice.id, status="sending")
                        .values_list("subscription_id", flat=True))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        endpoint.delay = 0.0
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    await drain(push_settings, datetime.now(UTC) + LEASE + timedelta(seconds=1))
    counts = endpoint.count(paths, f"notice-{notice.id}")
    assert set(counts) == {(p, f"notice-{notice.id}") for p in paths}  # nothing lost
    doubled = {path for (path, _), n in counts.items() if n > 1}
    in_flight_paths = {s.endpoint.removeprefix(endpoint.origin) for s in
                       await PushSubscription.filter(id__in=list(in_flight))}
    assert doubled <= in_flight_paths
    assert len(doubled) <= Worker(push_settings).concurrency
    assert not await Delivery.filter(notice_id=notice.id).exclude(status="sent").exists()


# --- failures --------------------------------------------------------------------------------

async def test_gone_subscription_is_removed(app: Any, endpoint: PushEndpoint,
                                            push_settings: Any) -> None:
    notice, _ = await _queued_notice(app, endpoint, push_settings, 0)
    later_notice, _ = await _queued_notice(app, endpoint, push_settings, 0)
    member = await make_member(app, project_code="chuangxingang")
    path = await subscribe(endpoint, push_settings, "gone", member=member)
    endpoint.replies[path] = [410]
    sub = await PushSubscription.get(member_id=member.id)
    now = datetime.now(UTC)
    first = await Delivery.create(channel="push", member_id=member.id, notice_id=notice.id,
                                  subscription_id=sub.id, next_attempt_at=now, created_at=now)
    other = await Delivery.create(channel="push", member_id=member.id,
                                  notice_id=later_notice.id, subscription_id=sub.id,
                                  next_attempt_at=now + timedelta(hours=1), created_at=now)
    await drain(push_settings)
    assert not await PushSubscription.exists(id=sub.id)
    dead = await Delivery.get(id=first.id)
    assert dead.status == "dead" and "410" in dead.last_error
    later = await Delivery.get(id=other.id)
    assert later.status == "dead" and later.subscription_id is None  # type: ignore[attr-defined]


async def test_server_error_is_retried_with_back_off(app: Any, endpoint: PushEndpoint,
                                                     push_settings: Any) -> None:
    notice, _ = await _queued_notice(app, endpoint, push_settings, 0)
    member = await make_member(app, project_code="chuangxingang")
    path = await subscribe(endpoint, push_settings, "flaky", member=member)
    endpoint.replies[path] = [500, 503]
    sub = await PushSubscription.get(member_id=member.id)
    now = datetime.now(UTC)
    row = await Delivery.create(channel="push", member_id=member.id, notice_id=notice.id,
                                subscription_id=sub.id, next_attempt_at=now, created_at=now)
    await drain(push_settings, now)
    row = await Delivery.get(id=row.id)
    assert (row.status, row.attempts) == ("failed", 1) and "500" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=30)
    await drain(push_settings, now + timedelta(seconds=29))
    assert (await Delivery.get(id=row.id)).attempts == 1  # not due yet
    await drain(push_settings, now + timedelta(seconds=31))
    row = await Delivery.get(id=row.id)
    assert (row.status, row.attempts) == ("failed", 2) and "503" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=31) + timedelta(seconds=60)
    await drain(push_settings, now + timedelta(seconds=92))
    row = await Delivery.get(id=row.id)
    assert (row.status, row.attempts) == ("sent", 3)
    assert [(r.path, r.payload["tag"]) for r in endpoint.received].count(
        (path, f"notice-{notice.id}")) == 1
    assert (await PushSubscription.get(id=sub.id)).failures == 0


async def test_disallowed_host_is_refused_at_send_time(app: Any, endpoint: PushEndpoint,
                                                       push_settings: Any) -> None:
    """A subscription accepted under an older LIANXIN_PUSH_HOSTS is not called any more."""
    notice, _ = await _queued_notice(app, endpoint, push_settings, 0)
    member = await make_member(app, project_code="chuangxingang")
    path = await subscribe(endpoint, push_settings, member=member)
    sub = await PushSubscription.get(member_id=member.id)
    now = datetime.now(UTC)
    row = await Delivery.create(channel="push", member_id=member.id, notice_id=notice.id,
                                subscription_id=sub.id, next_attempt_at=now, created_at=now)
    narrowed = dataclasses.replace(push_settings, push_hosts=("fcm.googleapis.com",))
    await drain(narrowed, now)
    row = await Delivery.get(id=row.id)
    assert row.status == "dead" and "not allowed" in row.last_error
    assert path not in {r.path for r in endpoint.received}


# --- the chair's log -------------------------------------------------------------------------

async def test_delivery_log_for_the_chair(app: Any, endpoint: PushEndpoint,
                                          push_settings: Any) -> None:
    member = await make_member(app, name="司马记录")
    await subscribe(endpoint, push_settings, member=member)
    item = await make_request(member, text="LOG-SECRET-TEXT 工资")
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "reply",
                               ActionInput(note="收到"))
    await drain(push_settings)
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/deliveries")
    assert page.status_code == 200
    assert f"/officer/requests/{item.id}" in page.text and "已送达" in page.text
    assert "LOG-SECRET-TEXT" not in page.text and "司马" not in page.text
    async with officer_client(app, XBL_CADRE) as c:
        assert (await c.get("/officer/deliveries")).status_code == 403


def test_generated_vapid_key_is_shared(tmp_path: Path) -> None:
    settings = settings_for("sqlite://x.sqlite3", tmp_path)
    first = push.public_key(settings)
    push._keys.clear()
    assert push.public_key(settings) == first
    assert (tmp_path / ".lianxin-vapid").stat().st_mode & 0o077 == 0


# --- shared problems ("我也遇到") --------------------------------------------------------------

async def test_shared_problem_update_reaches_those_who_joined(
        app: Any, endpoint: PushEndpoint, push_settings: Any) -> None:
    joined, bystander = await make_member(app), await make_member(app)
    phone = await subscribe(endpoint, push_settings, member=joined)
    other = await subscribe(endpoint, push_settings, member=bystander)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    problem, _ = await shared.publish(chair, shared.NewShared(
        uuid.uuid4(), "电动车棚-TITLE-5c1", "北门没有车棚-SUMMARY"))
    await shared.join(joined, problem, uuid.uuid4())
    await shared.post(chair, problem, "已选好地方-NOTE-77", close=False)
    await shared.post(chair, problem, "车棚建好了-NOTE-78", close=True)

    await drain(push_settings)
    about = f"shared-{problem.id}"
    mine = [r for r in endpoint.received if r.path == phone and r.payload["tag"] == about]
    assert sorted(r.payload["title"] for r in mine) == [
        "你也遇到的问题有了结果", "你也遇到的问题有新进展"]
    assert {r.payload["url"] for r in mine} == {f"/shared/{problem.id}"}
    for secret in ("TITLE", "SUMMARY", "NOTE", "电动车棚", joined.phone):
        assert all(secret not in r.plaintext for r in mine)
    assert not [r for r in endpoint.received if r.path == other and r.payload["tag"] == about]

    async with officer_client(app, XBL_CHAIR) as c:  # the chair's delivery log names it
        page = await c.get("/officer/deliveries")
        assert f'href="/officer/shared/{problem.id}"' in page.text
