"""Limits that hold when attempts arrive all at once, idempotency keys that are not
credentials, and no membership oracles (issue 8, items 1, 2 and 5)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from server.errors import TooManyAttempts
from server.models import (
    AuditEntry,
    LimitCounter,
    Member,
    MemberClaim,
    Officer,
    RebindCode,
    ServiceRequest,
)
from server.passwords import hash_password
from server.services import limits, rebind
from server.services import requests as svc
from server.settings import load
from tests.conftest import (
    XBL_CADRE,
    XBL_CHAIR,
    csrf_of,
    enrol,
    enrolment_form,
    fresh_phone,
    join_path,
    login,
    new_client,
)
from tests.factories import make_member, member_client

CONCURRENCY = 40


def client_ip(c: httpx.AsyncClient) -> str:
    return str(c._transport.client[0])  # type: ignore[attr-defined]


# --- the counter ---------------------------------------------------------------------------

async def test_counter_gives_each_simultaneous_attempt_its_own_count(app: Any) -> None:
    limit = limits.Limit(f"test.{uuid.uuid4().hex[:8]}", 5, 900)
    hits = await asyncio.gather(*(limits.bump(limit, "x") for _ in range(50)))
    assert sorted(h.hits for h in hits) == list(range(1, 51))
    assert sum(not h.over for h in hits) == 5
    await hits[0].refund()
    assert (await limits.bump(limit, "x")).hits == 50


async def test_old_windows_are_swept(app: Any) -> None:
    limit = limits.Limit(f"test.{uuid.uuid4().hex[:8]}", 5, 60)
    long_ago = time.time() - 3600
    old = await limits.bump(limit, "x", now=long_ago)
    live = await limits.bump(limit, "x")
    assert await limits.sweep() >= 1
    assert not await LimitCounter.exists(bucket=old.bucket, window_start=old.window_start)
    assert await LimitCounter.exists(bucket=live.bucket, window_start=live.window_start)


def test_limits_and_messages_come_from_the_settings(tmp_path: Any) -> None:
    settings = load({"LIANXIN_SECRET_KEY": "k" * 40, "LIANXIN_LOGIN_WINDOW_SECONDS": "1800",
                     "LIANXIN_LOGIN_MAX_FAILURES": "7", "LIANXIN_REQUESTS_PER_HOUR": "3",
                     "LIANXIN_JOIN_MAX_PER_IP": "99", "LIANXIN_REBIND_MAX_ATTEMPTS": "4"})
    rules = limits.Limits.from_settings(settings)
    assert (rules.login_phone.max_hits, rules.login_phone.window_seconds) == (7, 1800)
    assert rules.requests.max_hits == 3 and rules.join_ip.max_hits == 99
    assert rules.rebind_code.max_hits == rules.rebind_phone.max_hits == 4
    assert "30 分钟" in limits.wait_message(rules.login_phone)
    assert "60 分钟" in limits.wait_message(rules.join_ip)


# --- officer login -------------------------------------------------------------------------

async def _officer(phone: str, password: str) -> Officer:
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    # A chair, not a cadre: a new cadre would start receiving other tests' new members.
    return await Officer.create(phone=phone, name="限流测试", role="chair", union=chair.union,
                                password_hash=hash_password(password))


async def _login_posts(app: Any, phone: str, passwords: list[str]) -> list[httpx.Response]:
    """One client (own IP, own session) per password, all posted at the same moment."""
    clients = [new_client(app) for _ in passwords]
    try:
        tokens = [csrf_of((await c.get("/officer/login")).text) for c in clients]
        return list(await asyncio.gather(*(
            c.post("/officer/login", data={"csrf_token": t, "phone": phone, "password": p})
            for c, t, p in zip(clients, tokens, passwords, strict=True))))
    finally:
        for c in clients:
            await c.aclose()


async def test_forty_simultaneous_guesses_check_at_most_the_limit(app: Any) -> None:
    officer = await _officer(fresh_phone(), "right-pass-1")
    passwords = [f"wrong-{i}" for i in range(CONCURRENCY - 1)] + ["right-pass-1"]
    answers = await _login_posts(app, officer.phone, passwords)
    checked = [r for r in answers if r.status_code != 429]
    assert len(checked) <= app.state.settings.login_max_failures
    assert [r.status_code for r in answers].count(429) >= CONCURRENCY - 5
    assert all(r.status_code in {303, 401, 429} for r in answers)


async def test_locked_phone_refuses_the_right_password_among_forty(app: Any) -> None:
    officer = await _officer(fresh_phone(), "right-pass-2")
    first = await _login_posts(app, officer.phone, ["wrong"] * 5)
    assert [r.status_code for r in first] == [401] * 5
    passwords = [f"wrong-{i}" for i in range(CONCURRENCY)]
    passwords[CONCURRENCY // 2] = "right-pass-2"
    answers = await _login_posts(app, officer.phone, passwords)
    assert [r.status_code for r in answers] == [429] * CONCURRENCY
    assert all("15 分钟后再试" in r.text for r in answers)
    await officer.refresh_from_db()
    assert officer.last_login_at is None


async def test_a_right_password_does_not_reset_the_failures(app: Any) -> None:
    officer = await _officer(fresh_phone(), "right-pass-3")
    async with new_client(app) as c:
        token = csrf_of((await c.get("/officer/login")).text)

        async def attempt(password: str) -> int:
            return (await c.post("/officer/login", data={
                "csrf_token": token, "phone": officer.phone, "password": password})).status_code

        assert [await attempt("nope") for _ in range(4)] == [401] * 4
        assert await attempt("right-pass-3") == 303
    async with new_client(app) as c:  # another phone, or the same one signed out
        token = csrf_of((await c.get("/officer/login")).text)
        # The four failures still count: one more is allowed, then the lock.
        assert [await attempt("nope"), await attempt("nope")] == [401, 429]


async def test_login_is_limited_per_ip_too(app: Any) -> None:
    per_ip = app.state.settings.login_max_failures_per_ip
    async with new_client(app) as c:
        token = csrf_of((await c.get("/officer/login")).text)
        codes = [(await c.post("/officer/login", data={
            "csrf_token": token, "phone": fresh_phone(), "password": "x"})).status_code
            for _ in range(per_ip + 1)]
    assert codes == [401] * per_ip + [429]


# --- re-bind codes -------------------------------------------------------------------------

async def _issue(app: Any, member: Member) -> tuple[str, RebindCode]:
    cadre = await Officer.get(phone=XBL_CADRE)
    code = await rebind.issue(member, cadre, app.state.keyring)
    return code, await RebindCode.get(member=member, used_at__isnull=True)


async def _rebind_posts(app: Any, phone: str, codes: list[str]) -> list[httpx.Response]:
    clients = [new_client(app) for _ in codes]
    try:
        tokens = [csrf_of((await c.get("/me/rebind")).text) for c in clients]
        return list(await asyncio.gather(*(
            c.post("/me/rebind", data={"csrf_token": t, "phone": phone, "code": code})
            for c, t, code in zip(clients, tokens, codes, strict=True))))
    finally:
        for c in clients:
            await c.aclose()


@pytest.mark.timeout(240)
async def test_150_parallel_guesses_cannot_redeem_a_code(app: Any) -> None:
    member = await make_member(app)
    code, row = await _issue(app, member)
    guesses = [f"{i:08d}" for i in range(151) if f"{i:08d}" != code][:150]
    answers = await _rebind_posts(app, member.phone, guesses)
    statuses = [r.status_code for r in answers]
    assert 303 not in statuses
    assert len([s for s in statuses if s != 429]) <= app.state.settings.rebind_max_attempts
    assert "分钟后再试" in next(r.text for r in answers if r.status_code == 429)
    await row.refresh_from_db()
    assert row.used_at is not None  # dead: tried as often as a code may be
    # The right code now: refused while the phone is locked, and after that too.
    assert (await _rebind_posts(app, member.phone, [code]))[0].status_code == 429
    await LimitCounter.filter(bucket=f"rebind.phone:{member.phone}").delete()
    assert (await _rebind_posts(app, member.phone, [code]))[0].status_code == 422
    await member.refresh_from_db()
    assert member.session_epoch == 0


async def test_a_code_dies_after_the_allowed_wrong_tries(app: Any) -> None:
    member = await make_member(app)
    code, row = await _issue(app, member)
    tries = app.state.settings.rebind_max_attempts
    wrong = [c for c in ("11111111", "22222222", "33333333", "44444444", "55555555",
                         "66666666") if c != code][:tries]
    answers = await _rebind_posts(app, member.phone, wrong)
    assert [r.status_code for r in answers] == [422] * tries
    await row.refresh_from_db()
    assert row.used_at is not None
    # Even once the phone's window is over, the right code no longer works.
    await LimitCounter.filter(bucket=f"rebind.phone:{member.phone}").delete()
    late = await _rebind_posts(app, member.phone, [code])
    assert late[0].status_code == 422 and "换机码不对" in late[0].text
    # A new code from the cadre starts afresh.
    fresh, _ = await _issue(app, member)
    await LimitCounter.filter(bucket=f"rebind.phone:{member.phone}").delete()
    assert (await _rebind_posts(app, member.phone, [fresh]))[0].status_code == 303


async def test_rebind_is_limited_per_ip(app: Any) -> None:
    per_ip = app.state.settings.rebind_max_attempts_per_ip
    errors = []
    for _ in range(per_ip + 1):
        _, e = await rebind.redeem({"phone": fresh_phone(), "code": "12345678"},
                                   app.state.keyring, "192.0.2.77")
        errors.append(sorted(e))
    assert errors == [["code"]] * per_ip + [["limit"]]


# --- joining -------------------------------------------------------------------------------

async def _join_posts(app: Any, path: str, forms: list[dict[str, str]],
                      ) -> tuple[list[httpx.AsyncClient], list[httpx.Response]]:
    clients = [new_client(app) for _ in forms]
    tokens = [csrf_of((await c.get(path)).text) for c in clients]
    answers = await asyncio.gather(*(
        c.post(path, data={**form, "csrf_token": t})
        for c, t, form in zip(clients, tokens, forms, strict=True)))
    return clients, list(answers)


async def test_forty_joins_for_one_phone_at_once(app: Any) -> None:
    path = await join_path("chuangxingang")
    phone = fresh_phone()
    forms = [enrolment_form(phone=phone, name=f"工友{i}") for i in range(CONCURRENCY)]
    clients, answers = await _join_posts(app, path, forms)
    try:
        statuses = [r.status_code for r in answers]
        assert set(statuses) <= {303, 429}
        assert statuses.count(303) <= app.state.settings.join_max_per_phone
        assert await Member.filter(phone=phone).count() == 1
        member = await Member.get(phone=phone)
        # Exactly one sender is that member; every other accepted form waits for a cadre.
        signed_in = [c for c in clients if (await c.get("/me")).status_code == 200]
        assert len(signed_in) == 1
        assert await MemberClaim.filter(member=member).count() == statuses.count(303) - 1
    finally:
        for c in clients:
            await c.aclose()


async def test_a_known_client_id_signs_nobody_else_in(app: Any) -> None:
    path = await join_path("xibailiang")
    async with new_client(app) as owner:
        first, form = await enrol(owner, id_number="11010519491231002X")
        assert first.status_code == 303
        member = await Member.get(client_id=form["client_id"])
        # Forty strangers replay the whole form, client_id and all, at the same moment.
        replay = {k: v for k, v in form.items() if k != "csrf_token"}
        clients, answers = await _join_posts(app, path, [replay] * CONCURRENCY)
        try:
            assert {r.status_code for r in answers} <= {422, 429}
            refused = [r for r in answers if r.status_code == 422]
            assert refused and all("已经提交过了" in r.text for r in refused)
            for r in answers:
                assert member.member_no not in r.text
            for c in clients:
                assert (await c.get("/me")).status_code == 403
        finally:
            for c in clients:
                await c.aclose()
        assert await Member.filter(phone=form["phone"]).count() == 1
        # The owner's own device replaying it (the outbox) is answered as the first time
        # (once the phone's join window, which the strangers used up, is over).
        await LimitCounter.filter(bucket=f"join.phone:{form['phone']}").delete()
        # The outbox sends the page's current token (rotated when the owner was signed in).
        current = csrf_of((await owner.get("/me/rebind")).text)
        again = await owner.post(path, data={**form, "csrf_token": current})
        assert again.status_code == 303 and again.headers["location"] == "/me"


async def test_the_sending_device_gets_its_lost_answer(app: Any) -> None:
    """The outbox resends a join whose answer (and with it the session cookie) was lost:
    the same device, the same form, no member in its session yet."""
    path = await join_path("xibailiang")
    async with new_client(app) as device:
        page = await device.get(path)
        before = dict(device.cookies)
        form = enrolment_form(csrf_token=csrf_of(page.text))
        assert (await device.post(path, data=form)).status_code == 303
        device.cookies.clear()
        device.cookies.update(before)  # the answer never arrived
        assert (await device.get("/me")).status_code == 403
        again = await device.post(path, data=form)
        assert again.status_code == 303
        me = await device.get("/me")
        assert me.status_code == 200 and form["name"] in me.text
        # The same client_id with other answers is not the same form.
        current = csrf_of((await device.get("/me/rebind")).text)
        changed = await device.post(path, data={**form, "name": "改了名字",
                                                "csrf_token": current})
        assert changed.status_code == 422 and "已经提交过了" in changed.text
    member = await Member.get(client_id=form["client_id"])
    assert member.name == form["name"]


async def test_join_is_limited_per_ip(app: Any) -> None:
    rules = limits.current()
    async with new_client(app) as c:
        await limits.bump(rules.join_ip, client_ip(c), rules.join_ip.max_hits)
        response, form = await enrol(c)
    assert response.status_code == 429
    assert "分钟后再试" in response.text
    assert not await Member.exists(client_id=form["client_id"])


async def test_cadre_sees_and_resolves_a_second_claim(app: Any) -> None:
    async with new_client(app) as owner:
        first, form = await enrol(owner, "xibailiang")
        assert first.status_code == 303
    async with new_client(app) as other:
        second, claim_form = await enrol(other, "xibailiang", phone=form["phone"],
                                         name="冒名者")
        assert second.status_code == 303
    claim = await MemberClaim.get(client_id=claim_form["client_id"])
    async with new_client(app) as cadre:
        await login(cadre, XBL_CADRE)
        page = await cadre.get("/officer/pending")
        assert "冒名者" in page.text and f"/officer/claims/{claim.id}/resolve" in page.text
        done = await cadre.post(f"/officer/claims/{claim.id}/resolve",
                                data={"csrf_token": csrf_of(page.text)})
        assert done.status_code == 303
        assert "冒名者" not in (await cadre.get("/officer/pending")).text
    await claim.refresh_from_db()
    assert claim.resolved_at is not None
    assert await AuditEntry.exists(action="member.claim_resolved", target_id=claim.member_id)  # type: ignore[attr-defined]


# --- filing requests -----------------------------------------------------------------------

def _new(text: str = "宿舍漏雨") -> svc.NewRequest:
    from server.models import Anonymity, Category, Urgency

    return svc.NewRequest(uuid.uuid4(), Category.LIVING, text, Urgency.NORMAL,
                          Anonymity.MANAGEMENT)


async def test_filing_is_limited_per_hour_and_replays_are_free(app: Any) -> None:
    member = await make_member(app)
    quota = limits.current().requests.max_hits
    filed = [await svc.file_request(member, _new(), []) for _ in range(quota)]
    with pytest.raises(TooManyAttempts) as refused:
        await svc.file_request(member, _new(), [])
    assert refused.value.status == 429
    assert f"一小时内最多提交 {quota} 条诉求" in refused.value.message
    # A replay files nothing new: answered as before, quota or not.
    first = filed[0].request
    replay = svc.NewRequest(first.client_id, first.category, first.description,
                            first.urgency, first.anonymity)
    again = await svc.file_request(member, replay, [])
    assert not again.created and again.request.id == filed[0].request.id


async def test_forty_filings_at_once_file_at_most_the_quota(app: Any) -> None:
    member = await make_member(app)
    quota = limits.current().requests.max_hits

    async def one() -> bool:
        try:
            await svc.file_request(member, _new("同时"), [])
        except TooManyAttempts:
            return False
        return True

    results = await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
    assert results.count(True) == quota
    assert await ServiceRequest.filter(member_id=member.id).count() == quota


async def test_batch_items_count_one_each(app: Any) -> None:
    member = await make_member(app)
    quota = limits.current().requests.max_hits
    tag = uuid.uuid4().hex[:6]
    items = []
    for i in range(quota + 2):
        cid = str(uuid.uuid4())
        items.append({"id": cid, "fields": [
            ["client_id", cid], ["category", "living"], ["description", f"批 {tag} {i}"],
            ["urgency", "normal"], ["anonymous", "management"]]})
    async with member_client(app, member) as c:
        token = csrf_of((await c.get("/requests/new")).text)
        r = await c.post("/requests/sync", json={"items": items},
                         headers={"X-CSRF-Token": token})
        results = r.json()["results"]
        assert [x["status"] for x in results] == [201] * quota + [429, 429]
        assert "一小时内最多提交" in results[-1]["message"]
        # Sent again: the filed ones are replays (free), the others still wait.
        again = (await c.post("/requests/sync", json={"items": items},
                              headers={"X-CSRF-Token": token})).json()["results"]
        assert [x["status"] for x in again] == [200] * quota + [429, 429]
        single = await c.post("/requests/new", data={
            "csrf_token": token, "client_id": str(uuid.uuid4()), "category": "living",
            "description": "再来一条", "urgency": "normal", "anonymous": "management"})
        assert single.status_code == 429 and "一小时内最多提交" in single.text
    assert await ServiceRequest.filter(member_id=member.id).count() == quota


# --- member search -------------------------------------------------------------------------

async def test_search_matches_whole_phone_numbers_only_and_is_audited(app: Any) -> None:
    member = await make_member(app, name="查号测试")
    async with new_client(app) as cadre:
        await login(cadre, XBL_CADRE)

        async def found(term: str) -> bool:
            page = await cadre.get("/officer/members", params={"q": term, "status": "all"})
            assert page.status_code == 200
            return f"/officer/members/{member.id}" in page.text

        assert await found(member.phone)
        for partial in (member.phone[-4:], member.phone[-8:], member.phone[:7],
                        member.phone[:10]):
            assert not await found(partial), partial
    searches = await AuditEntry.filter(action="member.search",
                                       actor__phone=XBL_CADRE).values_list("detail", flat=True)
    terms = {str(d.get("q")) for d in searches if isinstance(d, dict)}
    assert member.phone in terms and member.phone[-4:] in terms
