"""SMS to members who turned it on, through the provider's official SDK (Tencent Cloud SMS).

Off unless `LIANXIN_SMS_PROVIDER` is set. A member's SMS is queued with the inbox item of an
event that concerns them (`server.services.delivery.enqueue_for_event`, UNIQUE `once_key`) and
sent by the delivery worker through `send`. What a message says is the provider's approved
template (one per inbox reason, `LIANXIN_SMS_TEMPLATES`) filled with the request number only:
an SMS shows on a lock screen, so a request's description or a filer's name never goes in.

Each member gets at most `LIANXIN_SMS_DAILY_CAP` a day (Beijing days): counted at send time by
one INSERT … ON CONFLICT … RETURNING (`server.services.limits.BUMP`), so concurrent workers
never share a count; an attempt the provider refused gives its count back. The monthly cost is
bumped in the transaction that marks messages sent (`add_cost`).

A WeChat subscription-message channel would be a sibling of this module: its own queueing
condition and sender, the same queue, cap and template discipline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client
from tortoise.backends.base.client import BaseDBAsyncClient

from server.db import fetch
from server.models import Member
from server.services.limits import BUMP, REFUND
from server.settings import Settings

BEIJING = timedelta(hours=8)
SDK_TIMEOUT_SECONDS = 15
# The provider's error codes that retrying will not mend (a wrong number, template or key).
_FINAL_PREFIXES = ("InvalidParameter", "UnauthorizedOperation", "AuthFailure",
                   "UnsupportedOperation", "FailedOperation.TemplateIncorrectOrUnapproved",
                   "FailedOperation.SignatureIncorrectOrUnapproved",
                   "FailedOperation.PhoneNumberInBlacklist")

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Per process, like the settings: queueing (inside any event's transaction) reads it."""
    global _settings
    _settings = settings


def enabled(settings: Settings | None) -> bool:
    return bool(settings is not None and settings.sms_provider and settings.sms_templates)


def queued_reasons() -> tuple[str, ...]:
    """The inbox reasons an SMS is queued for now: none when SMS is off."""
    if not enabled(_settings):
        return ()
    assert _settings is not None
    return tuple(sorted(_settings.sms_templates))


async def set_opt_in(member: Member, on: bool) -> None:
    """The worker's own choice: not audited, only when they made it is kept."""
    await Member.filter(id=member.id).update(sms_opt_in=on, sms_opt_in_at=datetime.now(UTC))
    member.sms_opt_in = on


def template_params(request_id: int) -> list[str]:
    """What fills the template: the request number, nothing a stranger should read."""
    return [str(int(request_id))]


def day_window(now: datetime) -> int:
    """Start of the Beijing day of `now`, in Unix seconds."""
    local = (now.astimezone(UTC) + BEIJING).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((local - BEIJING).timestamp())


def month_of(now: datetime) -> str:
    return (now.astimezone(UTC) + BEIJING).strftime("%Y-%m")


@dataclass(frozen=True)
class Result:
    status: str  # sent / failed / dead
    error: str = ""


async def take_daily_slot(settings: Settings, member_id: int, now: datetime) -> bool:
    """Counts this message against the member's day; False when over the cap."""
    start = day_window(now)
    rows = await fetch(BUMP, f"sms.member:{member_id}", start, start + 2 * 86400, 1, 1)
    return int(rows[0][0]) <= settings.sms_daily_cap


async def give_back_daily_slot(member_id: int, now: datetime) -> None:
    await fetch(REFUND, 1, f"sms.member:{member_id}", day_window(now))


def _client(settings: Settings) -> sms_client.SmsClient:
    http = HttpProfile(reqTimeout=SDK_TIMEOUT_SECONDS)
    endpoint = settings.sms_endpoint
    if endpoint.startswith(("http://", "https://")):
        http.protocol, _, endpoint = endpoint.partition("://")
        http.scheme = http.protocol
    if endpoint:
        http.endpoint = endpoint
    cred = credential.Credential(settings.sms_secret_id, settings.sms_secret_key)
    return sms_client.SmsClient(cred, settings.sms_region, ClientProfile(httpProfile=http))


def _send_sync(settings: Settings, phone: str, template_id: str, params: list[str]) -> Result:
    request = models.SendSmsRequest()
    request.PhoneNumberSet = ["+86" + phone]
    request.SmsSdkAppId = settings.sms_app_id
    request.SignName = settings.sms_sign_name
    request.TemplateId = template_id
    request.TemplateParamSet = params
    try:
        response = _client(settings).SendSms(request)
    except TencentCloudSDKException as exc:
        code = str(exc.get_code() or "")
        error = f"{code} {exc.get_message() or ''}".strip()[:200]
        final = code.startswith(_FINAL_PREFIXES)
        return Result("dead" if final else "failed", error)
    statuses = response.SendStatusSet or []
    if not statuses:
        return Result("failed", "no send status")
    code = str(statuses[0].Code or "")
    if code == "Ok":
        return Result("sent")
    error = f"{code} {statuses[0].Message or ''}".strip()[:200]
    return Result("dead" if code.startswith(_FINAL_PREFIXES) else "failed", error)


async def send(settings: Settings, member_id: int, phone: str, reason: str,
               request_id: int, now: datetime) -> Result:
    """One SMS through the SDK (synchronous, so in a thread), within the member's cap."""
    if not enabled(settings):
        return Result("dead", "sms off")
    template_id = settings.sms_templates.get(reason)
    if template_id is None:
        return Result("dead", "no template")
    if not await take_daily_slot(settings, member_id, now):
        return Result("dead", "daily cap")
    try:
        result = await asyncio.to_thread(_send_sync, settings, phone, template_id,
                                         template_params(request_id))
    except Exception as exc:  # the SDK wraps its own errors; anything else is ours to retry
        result = Result("failed", f"sdk: {type(exc).__name__}")
    if result.status != "sent":
        # The message did not go: it must not use up the member's day.
        await give_back_daily_slot(member_id, now)
    return result


async def add_cost(conn: BaseDBAsyncClient, settings: Settings, messages: int,
                   now: datetime) -> None:
    """This month's counter, in the caller's transaction (the one that marks them sent)."""
    if messages <= 0:
        return
    fen = messages * settings.sms_price_fen
    await fetch("INSERT INTO sms_month (month, messages, fen) VALUES (?, ?, ?) "
                "ON CONFLICT (month) DO UPDATE SET messages = sms_month.messages + ?, "
                "fen = sms_month.fen + ?", month_of(now), messages, fen, messages, fen,
                conn=conn)


async def this_month(now: datetime | None = None) -> tuple[int, int]:
    """(messages, fen) of the current Beijing month."""
    rows = await fetch("SELECT messages, fen FROM sms_month WHERE month = ?",
                       month_of(now or datetime.now(UTC)))
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
