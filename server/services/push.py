"""Web Push: which push services the server may call, the VAPID key, subscriptions, and the
lock-screen text of a message.

A subscription's endpoint is a URL the browser hands us and the server later POSTs to: left
unchecked it is a way to make the server call internal addresses. Only the origins allowed by
LIANXIN_PUSH_HOSTS are accepted, when subscribing and again when sending (the setting may have
changed since). What a phone shows on its lock screen is decided here too: a fixed line per
reason, never a request's description or a filer's name.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from server.db import fetch, transaction
from server.errors import DomainError
from server.i18n import gettext
from server.models import Member, Officer, PushSubscription
from server.settings import Settings

MAX_ENDPOINT = 1000
VAPID_FILE_NAME = ".lianxin-vapid"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- which push services ---------------------------------------------------------------------

def origin_of(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}".lower()


def endpoint_allowed(endpoint: str, hosts: tuple[str, ...]) -> bool:
    """True when `endpoint` is an https URL on an allowed push-service host (default port), or
    on an origin allowed as a whole (`http://127.0.0.1:8123`)."""
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None \
            or any(c in endpoint for c in " \t\r\n\\"):
        return False
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")
    for entry in hosts:
        if "://" in entry:
            if origin == entry:
                return True
            continue
        if parts.scheme != "https" or port not in (None, 443):
            continue
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False


# --- the VAPID key ---------------------------------------------------------------------------

_key_lock = threading.Lock()
_keys: dict[tuple[str, str], ec.EllipticCurvePrivateKey] = {}


def _parse_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("LIANXIN_VAPID_PRIVATE_KEY is not an EC key")
        return key
    return ec.derive_private_key(int.from_bytes(b64url_decode(text), "big"), ec.SECP256R1())


def _key_file(settings: Settings) -> Path:
    return Path(settings.secret_file).resolve().parent / VAPID_FILE_NAME


def _generated_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The development key, created once; several processes starting together agree on the
    first one written (hard link: atomic, and refuses to replace)."""
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        raw = key.private_numbers().private_value.to_bytes(32, "big")
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(b64url(raw) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return _parse_key(path.read_text(encoding="ascii"))


def vapid_key(settings: Settings) -> ec.EllipticCurvePrivateKey:
    cache_key = (settings.vapid_private_key, str(_key_file(settings)))
    with _key_lock:
        key = _keys.get(cache_key)
        if key is None:
            key = (_parse_key(settings.vapid_private_key) if settings.vapid_private_key
                   else _generated_key(_key_file(settings)))
            _keys[cache_key] = key
        return key


def public_key(settings: Settings) -> str:
    """The applicationServerKey browsers subscribe with: base64url of the uncompressed point."""
    point = vapid_key(settings).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


# --- subscriptions ---------------------------------------------------------------------------

@dataclass(frozen=True)
class NewSubscription:
    endpoint: str
    p256dh: str
    auth: str


def clean(data: object, settings: Settings) -> NewSubscription:
    """The browser's PushSubscription.toJSON(), checked: an allowed push service, and keys
    that are a P-256 point and a 16-byte secret (what encryption will need)."""
    if not isinstance(data, Mapping):
        raise DomainError(gettext("订阅信息格式不对"), status=400, field="form")
    endpoint = data.get("endpoint")
    keys = data.get("keys")
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > MAX_ENDPOINT \
            or not isinstance(keys, Mapping):
        raise DomainError(gettext("订阅信息格式不对"), status=400, field="form")
    if not endpoint_allowed(endpoint, settings.push_hosts):
        raise DomainError(gettext("这个推送服务不在允许范围内，无法开启通知"), status=422,
                          field="endpoint")
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        if not isinstance(p256dh, str) or not isinstance(auth, str) or len(p256dh) > 120 \
                or len(auth) > 40:
            raise ValueError("keys")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
        if len(b64url_decode(auth)) != 16:
            raise ValueError("auth")
    except ValueError as exc:
        raise DomainError(gettext("订阅信息格式不对"), status=400, field="keys") from exc
    return NewSubscription(endpoint, p256dh, auth)


async def subscribe(new: NewSubscription, *, member: Member | None = None,
                    officer: Officer | None = None) -> PushSubscription:
    """Idempotent by endpoint: the same browser subscribing again (or twice at once) keeps one
    row, now belonging to whoever is signed in on it (a member, an officer, or both when one
    person is signed in as both on their phone)."""
    owner: dict[str, Any] = {"member_id": member.id if member else None,
             "officer_id": officer.id if officer else None}
    values: dict[str, Any] = {**owner, "p256dh": new.p256dh, "auth": new.auth, "failures": 0}
    for _ in range(3):
        existing = await PushSubscription.get_or_none(endpoint=new.endpoint)
        if existing is not None:
            await PushSubscription.filter(id=existing.id).update(**values)
            return await PushSubscription.get(id=existing.id)
        try:
            async with transaction():
                return await PushSubscription.create(
                    endpoint=new.endpoint, created_at=datetime.now(UTC), **values)
        except IntegrityError:
            continue  # the same endpoint subscribed at the same moment: update that row
    raise DomainError(gettext("请稍后再试"), status=409)


def _owned_by(member: Member | None, officer: Officer | None) -> Q:
    mine = Q(member_id=member.id) if member is not None else Q(id=-1)
    if officer is not None:
        mine |= Q(officer_id=officer.id)
    return mine


async def unsubscribe(endpoint: str, *, member: Member | None = None,
                      officer: Officer | None = None) -> bool:
    """Drop the browser's subscription if it belongs to someone signed in on it."""
    return await PushSubscription.filter(_owned_by(member, officer),
                                         endpoint=endpoint).delete() > 0


# Messages still waiting for the old endpoint go to the new one (a renewal is the same
# phone), unless the new one already has that message.
_MOVE_WAITING = (
    "UPDATE delivery SET subscription_id = ? WHERE subscription_id = ? "
    "AND status IN ('queued', 'failed') AND NOT EXISTS (SELECT 1 FROM delivery o "
    "WHERE o.subscription_id = ? AND o.channel = delivery.channel "
    "AND (o.inbox_item_id = delivery.inbox_item_id OR o.notice_id = delivery.notice_id))")


async def replace(old_endpoint: str, new: PushSubscription, *, member: Member | None = None,
                  officer: Officer | None = None) -> bool:
    """The browser renewed its subscription (`pushsubscriptionchange`): drop the old one, if
    it belongs to someone signed in here (nobody unsubscribes another person's phone by
    naming its endpoint), moving what was still waiting to be sent to the new one."""
    old = await PushSubscription.filter(_owned_by(member, officer),
                                        endpoint=old_endpoint).first()
    if old is None or old.id == new.id:
        return False
    async with transaction() as tx:
        await fetch(_MOVE_WAITING, new.id, old.id, new.id, conn=tx)
        await PushSubscription.filter(id=old.id).using_db(tx).delete()
    return True


# --- encryption (RFC 8291) -------------------------------------------------------------------

RECORD_SIZE = 4096
# What fits in the one record a message is sent as (4096 less the tag and the delimiter).
MAX_PAYLOAD = RECORD_SIZE - 17


def encrypt(p256dh: str, auth: str, payload: bytes) -> bytes:
    """A push message body: RFC 8291 (Web Push message encryption) in RFC 8188's aes128gcm
    content coding, as one record, by http_ece — the library pywebpush encrypts with.

    Called directly rather than through pywebpush's WebPusher.encode, which wraps the same
    call but deep-copies the subscription and re-parses its keys for every message (1.7× the
    CPU, measured 2026-12-07): on a fan-out to 100,000 phones encryption is a third of the
    worker's time. The crypto itself stays in the maintained library."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large for one record")
    receiver = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
    # A new key pair for every message (RFC 8291 section 3.1); http_ece makes the salt.
    return bytes(http_ece.encrypt(payload, private_key=ec.generate_private_key(ec.SECP256R1()),
                                  dh=receiver, auth_secret=b64url_decode(auth),
                                  version="aes128gcm", rs=RECORD_SIZE))


# --- what the lock screen shows --------------------------------------------------------------

APP_NAME = "连心桥"
OPEN_LINE = "点开查看"


def request_payload(reason: str, request_id: int, *, officer: bool) -> bytes:
    """A line chosen by the reason alone: nothing from the request or its filer."""
    from server.services.inbox import PARTNER_REASON, REASON_LABELS

    title = REASON_LABELS.get(reason, "你有新消息")
    if reason == PARTNER_REASON:
        url = f"/partner/requests/{request_id}"
    else:
        url = f"/officer/requests/{request_id}" if officer else f"/requests/{request_id}"
    return _payload(title, f"{APP_NAME} · {OPEN_LINE}", url, f"request-{request_id}")


SUMMARY_REASON = "daily_summary"


def summary_payload() -> bytes:
    """The chair's morning summary: a fixed line, the figures stay behind the sign-in."""
    return _payload("今日汇总", f"{APP_NAME} · {OPEN_LINE}", "/officer/summary",
                    "daily-summary")


def shared_payload(reason: str, problem_id: int) -> bytes:
    """A shared problem the worker joined moved on: a fixed line, as for a request."""
    from server.services.inbox import REASON_LABELS

    return _payload(REASON_LABELS.get(reason, "你有新消息"), f"{APP_NAME} · {OPEN_LINE}",
                    f"/shared/{problem_id}", f"shared-{problem_id}")


def notice_payload(notice_id: int, title: str) -> bytes:
    """Notices are public to everyone they reach: their title may show."""
    return _payload(title, f"{APP_NAME} · 新通知", f"/notices/{notice_id}",
                    f"notice-{notice_id}")


def _payload(title: str, body: str, url: str, tag: str) -> bytes:
    return json.dumps({"title": title, "body": body, "url": url, "tag": tag},
                      ensure_ascii=False).encode("utf-8")
