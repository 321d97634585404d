"""SMS through Tencent Cloud's official SDK, against a local HTTP endpoint standing in for the
provider: it reads the SDK's real request (action, version, TC3 signature header, JSON body)
and answers the way the provider does."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from server.models import Anonymity, Delivery, LimitCounter, Member, Officer, ServiceRequest
from server.services import delivery, sms
from server.services.delivery import Worker
from server.services.lifecycle import ActionInput, apply_officer_action
from server.settings import SettingsError, load
from tests.conftest import XBL_CHAIR
from tests.factories import make_member, make_request, member_client, officer_client

SECRET_ID = "AKIDlianxinTEST0001"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


@dataclass
class Sent:
    action: str
    version: str
    authorization: str
    body: dict[str, Any]
    raw: str


def answer(response: dict[str, Any]) -> web.Response:
    # Exactly the provider's Content-Type: the SDK reads errors only from that one.
    return web.Response(body=json.dumps({"Response": response}).encode(),
                        headers={"Content-Type": "application/json"})


@dataclass
class ProviderStandIn:
    received: list[Sent] = field(default_factory=list)
    # phone (+86…) -> error codes to answer, in turn, before answering Ok
    errors: dict[str, list[str]] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    origin: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = (await request.read()).decode("utf-8")
        body = json.loads(raw)
        self.received.append(Sent(request.headers.get("X-TC-Action", ""),
                                  request.headers.get("X-TC-Version", ""),
                                  request.headers.get("Authorization", ""), body, raw))
        phone = body["PhoneNumberSet"][0]
        pending = self.errors.get(phone)
        if pending:
            code = pending.pop(0)
            return answer({"Error": {"Code": code, "Message": "stand-in error"},
                           "RequestId": "r-err"})
        return answer({"SendStatusSet": [{
            "SerialNo": "2028:1", "PhoneNumber": phone, "Fee": 1, "SessionContext": "",
            "Code": "Ok", "Message": "send success", "IsoCode": "CN"}], "RequestId": "r-ok"})

    def to(self, phone: str) -> list[Sent]:
        return [s for s in self.received if s.body["PhoneNumberSet"] == ["+86" + phone]]


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[ProviderStandIn]:
    stand_in = ProviderStandIn()
    server = web.Application()
    server.router.add_post("/", stand_in.handle)
    stand_in.runner = web.AppRunner(server, access_log=None)
    await stand_in.runner.setup()
    site = web.TCPSite(stand_in.runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stand_in.origin = f"http://127.0.0.1:{port}"
    yield stand_in
    await stand_in.runner.cleanup()


@pytest.fixture
def sms_settings(app: Any, provider: ProviderStandIn) -> Iterator[Any]:
    original = app.state.settings
    settings = dataclasses.replace(
        original, sms_provider="tencent", sms_secret_id=SECRET_ID,
        sms_secret_key="test-secret-key", sms_app_id="1400000001", sms_sign_name="连心桥",
        sms_endpoint=provider.origin,
        sms_templates={"reply": "100001", "resolved": "100002"}, sms_daily_cap=3,
        sms_price_fen=4)
    app.state.settings = settings
    sms.configure(settings)
    yield settings
    app.state.settings = original
    sms.configure(original)


async def drain(settings: Any, now: datetime | None = None) -> delivery.Stats:
    async with Worker(settings) as worker:
        return await worker.drain(now)


async def opted_in(app: Any, name: str = "李建国") -> Member:
    member = await make_member(app, name=name)
    await sms.set_opt_in(member, True)
    return member


async def reply(request_id: int, note: str = "已联系劳务公司") -> None:
    item = await ServiceRequest.get(id=request_id)
    assignee = await Officer.get(id=item.assignee_id).select_related("union")  # type: ignore[attr-defined]
    await apply_officer_action(assignee, item, "reply", ActionInput(note=note))


def sms_rows(member: Member) -> Any:
    return Delivery.filter(member_id=member.id, channel="sms")


# --- settings --------------------------------------------------------------------------------

def test_settings_off_by_default_and_templates_parsed() -> None:
    base = {"LIANXIN_SECRET_KEY": "x" * 40}
    settings = load(base)
    assert settings.sms_provider == "" and not sms.enabled(settings)
    parsed = load({**base, "LIANXIN_SMS_PROVIDER": "tencent",
                   "LIANXIN_SMS_TEMPLATES": "reply=123456, resolved=123457"})
    assert dict(parsed.sms_templates) == {"reply": "123456", "resolved": "123457"}
    assert sms.enabled(parsed)
    with pytest.raises(SettingsError, match="LIANXIN_SMS_TEMPLATES"):
        load({**base, "LIANXIN_SMS_TEMPLATES": "reply=abc"})
    with pytest.raises(SettingsError, match="LIANXIN_SMS_PROVIDER"):
        load({**base, "LIANXIN_SMS_PROVIDER": "carrier-pigeon"})


async def test_off_by_default_queues_nothing(app: Any) -> None:
    assert not sms.enabled(app.state.settings)
    member = await opted_in(app)
    item = await make_request(member)
    await reply(item.id)
    assert not await sms_rows(member).exists()


# --- opting in -------------------------------------------------------------------------------

async def test_member_turns_sms_on_and_off(app: Any, sms_settings: Any) -> None:
    member = await make_member(app)
    assert not member.sms_opt_in
    async with member_client(app, member) as c:
        page = await c.get("/me")
        assert "短信通知：已关闭" in page.text and "不花你的钱" in page.text
        token = CSRF_META.search(page.text).group(1)  # type: ignore[union-attr]
        assert (await c.post("/me/sms", data={"sms": "on"})).status_code == 403
        r = await c.post("/me/sms", data={"sms": "on", "csrf_token": token})
        assert r.status_code == 303
        fresh = await Member.get(id=member.id)
        assert fresh.sms_opt_in and fresh.sms_opt_in_at is not None
        assert "短信通知：已开启" in (await c.get("/me")).text
        await c.post("/me/sms", data={"sms": "off", "csrf_token": token})
    assert not (await Member.get(id=member.id)).sms_opt_in


async def test_not_offered_when_sms_is_off(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        assert 'id="sms"' not in (await c.get("/me")).text


# --- queueing and sending --------------------------------------------------------------------

async def test_one_sms_per_event_through_the_sdk_with_safe_params(
        app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app, name="欧阳秘密")
    other = await make_member(app)  # did not opt in
    description = "欠薪三个月-DESCRIPTION-5c1d 包工头姓赵"
    item = await make_request(member, text=description, anonymity=Anonymity.ALL)
    other_item = await make_request(other)
    before = await sms.this_month()
    await reply(item.id, note="NOTE-77 已联系")
    await reply(other_item.id)
    rows = await sms_rows(member)
    assert [(r.status, r.once_key) for r in rows] == [("queued", f"sms:{r.inbox_item_id}")  # type: ignore[attr-defined]
                                                      for r in rows]
    assert len(rows) == 1
    assert not await sms_rows(other).exists()
    # Queueing the same event again (a replay) adds nothing: UNIQUE once_key.
    inbox_item = await rows[0].inbox_item
    await delivery.enqueue_for_event(delivery._primary(), inbox_item.event_id)  # type: ignore[attr-defined]
    assert await sms_rows(member).count() == 1

    await drain(sms_settings)
    sent = provider.to(member.phone)
    assert len(sent) == 1
    message = sent[0]
    assert message.action == "SendSms" and message.version == "2021-01-11"
    assert message.authorization.startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
    assert "Signature=" in message.authorization
    assert message.body["TemplateId"] == "100001"
    assert message.body["TemplateParamSet"] == [str(item.id)]
    assert message.body["SmsSdkAppId"] == "1400000001"
    assert message.body["SignName"] == "连心桥"
    for secret in ("DESCRIPTION", "欠薪", "欧阳", "秘密", "NOTE-77"):
        assert secret not in message.raw
    row = await Delivery.get(id=rows[0].id)
    assert row.status == "sent" and row.sent_at is not None
    assert not provider.to(other.phone)
    messages, fen = await sms.this_month()
    assert (messages - before[0], fen - before[1]) == (1, 4)
    # Sent once: another drain sends nothing more.
    await drain(sms_settings)
    assert len(provider.to(member.phone)) == 1


async def test_daily_cap(app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app)
    for _ in range(4):
        await reply((await make_request(member)).id)
    assert await sms_rows(member).count() == 4
    await drain(sms_settings)
    statuses = sorted((r.status, r.last_error) for r in await sms_rows(member))
    assert statuses == [("dead", "daily cap")] + [("sent", "")] * 3
    assert len(provider.to(member.phone)) == 3


async def test_daily_cap_holds_for_forty_at_once(app: Any, sms_settings: Any) -> None:
    member = await make_member(app)
    now = datetime.now(UTC)
    granted = await asyncio.gather(*(sms.take_daily_slot(sms_settings, member.id, now)
                                     for _ in range(40)))
    assert granted.count(True) == 3
    # The next Beijing day starts a fresh count.
    assert await sms.take_daily_slot(sms_settings, member.id, now + timedelta(days=1))


async def test_provider_error_is_retried_and_recorded(
        app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app)
    provider.errors["+86" + member.phone] = ["InternalError.Timeout"]
    await reply((await make_request(member)).id)
    now = datetime.now(UTC)
    await drain(sms_settings, now)
    row = (await sms_rows(member))[0]
    assert (row.status, row.attempts) == ("failed", 1)
    assert "InternalError.Timeout" in row.last_error
    # The refused attempt did not use up the member's day.
    counter = await LimitCounter.get(bucket=f"sms.member:{member.id}")
    assert counter.hits == 0
    await drain(sms_settings, now + timedelta(seconds=31))
    row = await Delivery.get(id=row.id)
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(provider.to(member.phone)) == 2


async def test_final_provider_error_is_given_up(
        app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app)
    provider.errors["+86" + member.phone] = ["InvalidParameterValue.IncorrectPhoneNumber"]
    await reply((await make_request(member)).id)
    await drain(sms_settings)
    row = (await sms_rows(member))[0]
    assert row.status == "dead" and "IncorrectPhoneNumber" in row.last_error


async def test_turned_off_before_sending_is_not_sent(
        app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app)
    await reply((await make_request(member)).id)
    await sms.set_opt_in(member, False)
    await drain(sms_settings)
    row = (await sms_rows(member))[0]
    assert (row.status, row.last_error) == ("dead", "sms turned off")
    assert not provider.to(member.phone)


async def test_chair_sees_this_months_count_and_cost(
        app: Any, provider: ProviderStandIn, sms_settings: Any) -> None:
    member = await opted_in(app)
    await reply((await make_request(member)).id)
    await drain(sms_settings)
    messages, fen = await sms.this_month()
    assert messages >= 1
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/deliveries")
    assert page.status_code == 200
    assert f"本月短信 {messages} 条，约 {fen / 100:.2f} 元" in page.text
