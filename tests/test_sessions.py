"""Server-side sessions, the officer lifecycle and expiring member cards."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tortoise.expressions import F

from server.models import AuditEntry, Officer, Role, Session, UnionNode
from server.passwords import hash_password
from server.services import cards, officers
from tests.conftest import (
    ADMIN,
    XBL_CADRE,
    csrf_of,
    enrol,
    fresh_phone,
    login,
    new_client,
)
from tests.factories import make_member, make_request, member_client, officer_client

PASSWORD = "temp-pass-2026"
META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]*)"')


def meta_csrf(html: str) -> str:
    match = META_CSRF.search(html)
    assert match, "page has no CSRF meta"
    return match.group(1)


async def new_officer(role: str = "cadre", project: str = "xibailiang") -> Officer:
    return await Officer.create(phone=fresh_phone(), name="临时干部", role=role,
                                union=await UnionNode.get(code=project),
                                password_hash=hash_password(PASSWORD))


def refused(response: httpx.Response) -> bool:
    return response.status_code == 303 and "/officer/login" in response.headers["location"]


# --- the cookie ------------------------------------------------------------------------------

async def test_cookie_holds_only_random_keys(app: Any) -> None:
    officer = await new_officer()
    async with new_client(app) as c:
        await enrol(c)
        await login(c, officer.phone, PASSWORD)
        raw = c.cookies["lx_session"]
        keys = raw.split(".")
        # A member's session and an officer's: two keys, nothing else.
        assert len(keys) == 2
        for key in keys:
            decoded = base64.urlsafe_b64decode(key + "=")
            assert len(decoded) == 32
            for word in (b"officer", b"member", b"epoch"):
                assert word not in decoded
            # The table keeps a hash of the key, never the key.
            assert not await Session.exists(key_hash=key)
            row = await Session.get(key_hash=hashlib.sha256(key.encode()).hexdigest())
            assert row.ended_at is None
        rows = await Session.filter(key_hash__in=[
            hashlib.sha256(k.encode()).hexdigest() for k in keys]).order_by("kind")
        assert [r.kind for r in rows] == ["member", "officer"]
        assert rows[1].officer_id == officer.id  # type: ignore[attr-defined]


async def test_copied_cookie_is_refused_after_logout(app: Any) -> None:
    officer = await new_officer()
    async with new_client(app) as owner, new_client(app) as thief:
        await login(owner, officer.phone, PASSWORD)
        thief.cookies.set("lx_session", owner.cookies["lx_session"])
        page = await owner.get("/officer")
        assert (await thief.get("/officer")).status_code == 200
        out = await owner.post("/officer/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        assert refused(await thief.get("/officer"))
        assert refused(await owner.get("/officer"))
    assert not await Session.filter(officer_id=officer.id, ended_at__isnull=True).exists()


async def test_officer_logout_keeps_the_members_session(app: Any) -> None:
    officer = await new_officer()
    async with new_client(app) as c:
        await enrol(c)
        await login(c, officer.phone, PASSWORD)
        page = await c.get("/officer")
        await c.post("/officer/logout", data={"csrf_token": csrf_of(page.text)})
        assert (await c.get("/me")).status_code == 200
        assert refused(await c.get("/officer"))
        assert len(c.cookies["lx_session"].split(".")) == 1


async def test_a_workers_old_signed_cookie_moves_to_a_server_session(app: Any) -> None:
    """Workers have no password: the cookie of the old signed sessions still signs them in
    once, and is replaced by an opaque key. An officer's old cookie signs nobody in."""
    import json

    from itsdangerous import TimestampSigner

    member = await make_member(app)
    officer = await new_officer()
    signer = TimestampSigner(app.state.keyring.session_key)

    def old_cookie(data: dict[str, Any]) -> str:
        return signer.sign(base64.b64encode(json.dumps(data).encode())).decode()

    async with new_client(app) as c:
        c.cookies.set("lx_session", old_cookie(
            {"member": {"id": member.id, "epoch": member.session_epoch}, "csrf": "x"}))
        moved = await c.get("/me")
        assert moved.status_code == 200
        key = moved.headers["set-cookie"].split(";")[0].removeprefix("lx_session=")
        assert len(key) == 43 and "." not in key
    async with new_client(app) as c:
        c.cookies.set("lx_session", key)
        assert (await c.get("/me/card")).status_code == 200
    for data in ({"member": {"id": member.id, "epoch": member.session_epoch + 1}},
                 {"officer": {"id": officer.id, "epoch": 0, "at": 2**31}}):
        async with new_client(app) as c:
            c.cookies.set("lx_session", old_cookie(data))
            assert (await c.get("/me")).status_code == 403
            assert refused(await c.get("/officer"))
    async with new_client(app) as c:
        forged = old_cookie({"member": {"id": member.id, "epoch": member.session_epoch}})
        c.cookies.set("lx_session", forged[:-2] + "xx")
        assert (await c.get("/me")).status_code == 403


# --- CSRF ------------------------------------------------------------------------------------

async def test_csrf_token_is_rotated_at_officer_sign_in(app: Any) -> None:
    officer = await new_officer()
    async with new_client(app) as c:
        before = csrf_of((await c.get("/officer/login")).text)
        response = await c.post("/officer/login", data={
            "phone": officer.phone, "password": PASSWORD, "csrf_token": before})
        assert response.status_code == 303
        stale = await c.post("/officer/logout", data={"csrf_token": before})
        assert stale.status_code == 403
        assert (await c.get("/officer")).status_code == 200
        after = csrf_of((await c.get("/officer")).text)
        assert after != before
        assert (await c.post("/officer/logout", data={"csrf_token": after})).status_code == 303


async def test_csrf_token_is_rotated_at_member_sign_in(app: Any) -> None:
    async with new_client(app) as c:
        response, form = await enrol(c)
        assert response.status_code == 303
        before = form["csrf_token"]
        data = {"phone": form["phone"], "code": "00000000"}
        assert (await c.post("/me/rebind", data={**data, "csrf_token": before})).status_code == 403
        after = meta_csrf((await c.get("/me")).text)
        assert after != before
        assert (await c.post("/me/rebind", data={**data, "csrf_token": after})).status_code != 403
    # A re-bind signs in too: the token of the re-bind page does not outlive it.
    member = await make_member(app)
    async with member_client(app, member) as c:
        me = (await c.get("/me")).text
        page = await c.get("/me/rebind")
        assert csrf_of(page.text) == meta_csrf(me)
        assert c.cookies["lx_session"]


# --- the officer lifecycle -------------------------------------------------------------------

async def test_deactivation_ends_open_sessions_at_once(app: Any) -> None:
    officer = await new_officer()
    admin = await Officer.get(phone=ADMIN)
    async with new_client(app) as c:
        await login(c, officer.phone, PASSWORD)
        assert (await c.get("/officer/requests")).status_code == 200
        await officers.deactivate(officer, admin, ip="10.0.0.1")
        assert refused(await c.get("/officer/requests"))
        # and it cannot sign in again
        page = await c.get("/officer/login")
        again = await c.post("/officer/login", data={
            "phone": officer.phone, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
        assert again.status_code == 401
    assert not officer.active and officer.version == 1
    entry = await AuditEntry.get(action="officer.deactivate", target_id=officer.id)
    assert entry.actor_id == admin.id  # type: ignore[attr-defined]
    assert entry.detail["sessions_ended"] == 1
    # Twice is once.
    await officers.deactivate(officer, admin)
    assert await AuditEntry.filter(action="officer.deactivate", target_id=officer.id).count() == 1
    await officers.reactivate(officer, admin)
    assert officer.active and officer.version == 2


async def test_role_change_ends_open_sessions_at_once(app: Any) -> None:
    officer = await new_officer("cadre")
    async with new_client(app) as c:
        await login(c, officer.phone, PASSWORD)
        assert (await c.get("/officer/card")).status_code == 200
        await officers.change_role(officer, Role.MANAGER, None)
        assert refused(await c.get("/officer/card"))
        await login(c, officer.phone, PASSWORD)
        assert (await c.get("/officer/card")).status_code == 403
    entry = await AuditEntry.get(action="officer.role", target_id=officer.id)
    assert entry.detail == {"old": "cadre", "new": "manager", "sessions_ended": 1}


async def test_role_change_is_checked(app: Any) -> None:
    from server.errors import DomainError

    upper = await Officer.filter(role=Role.UPPER).first()
    assert upper is not None
    with pytest.raises(DomainError):
        await officers.change_role(upper, "cadre", None)  # cadres belong to a project union
    with pytest.raises(DomainError):
        await officers.change_role(upper, "boss", None)
    await upper.refresh_from_db()
    assert upper.role == Role.UPPER


async def test_a_second_process_sees_changes_on_its_very_next_request(
        app: Any, db_url: str, tmp_path: Path) -> None:
    """Two `lianxin serve` processes on one database: the officer signs in on one and works
    on the other, which has the officer cached; a change made anywhere shows at once."""
    from tests.e2e.conftest import LiveServer

    officer = await new_officer("cadre")
    servers = [LiveServer(db_url, tmp_path), LiveServer(db_url, tmp_path)]
    for server in servers:
        server.start(LIANXIN_DEADLINE_JOB_SECONDS="0")
    first, second = servers
    try:
        async with httpx.AsyncClient(base_url=first.url) as a:
            page = await a.get("/officer/login")
            signed = await a.post("/officer/login", data={
                "phone": officer.phone, "password": PASSWORD, "csrf_token": csrf_of(page.text)})
            assert signed.status_code == 303
            cookie = {"lx_session": a.cookies["lx_session"]}
        async with httpx.AsyncClient(base_url=second.url, cookies=cookie) as b:
            assert (await b.get("/officer/card")).status_code == 200  # cached there now
            # A new role written without ending sessions: the version alone tells process 2.
            await Officer.filter(id=officer.id).update(role=Role.MANAGER,
                                                       version=F("version") + 1)
            assert (await b.get("/officer/card")).status_code == 403
            await Officer.filter(id=officer.id).update(role=Role.CADRE,
                                                       version=F("version") + 1)
            assert (await b.get("/officer/card")).status_code == 200
            await officers.deactivate(await Officer.get(id=officer.id), None)
            assert refused(await b.get("/officer/card"))
        async with httpx.AsyncClient(base_url=first.url, cookies=cookie) as a:
            assert refused(await a.get("/officer/card"))
    finally:
        for server in servers:
            server.stop()


async def test_filing_never_assigns_to_an_inactive_liaison(app: Any) -> None:
    liaison = await new_officer("cadre")
    member = await make_member(app)
    await type(member).filter(id=member.id).update(liaison_id=liaison.id)
    await member.refresh_from_db()
    assert (await make_request(member)).assignee_id == liaison.id
    await officers.deactivate(liaison, None)
    item = await make_request(member)
    assert item.assignee_id not in {None, liaison.id}
    stand_in = await Officer.get(id=item.assignee_id)
    assert stand_in.active and stand_in.union_id == member.project_id  # type: ignore[attr-defined]
    assert stand_in.role in {Role.CADRE, Role.CHAIR}


# --- member cards ----------------------------------------------------------------------------

async def test_member_card_expires_and_renews(app: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = app.state.keyring
    member = await make_member(app)
    now = datetime.now(UTC)
    old = cards.card_token(keyring, member, now - timedelta(minutes=1))
    result = await cards.check_card(keyring, old)
    assert not result.valid and result.reason == "expired"
    # A card signed before cards had an expiry counts as expired too.
    legacy = keyring.sign_card({"m": member.id, "e": member.session_epoch})
    assert (await cards.check_card(keyring, legacy)).reason == "expired"
    async with officer_client(app, XBL_CADRE) as officer:
        page = await officer.get("/officer/card", params={"t": old})
        assert "会员卡已过期" in page.text and "自动换新卡" in page.text

    issued: list[str] = []
    make_token = cards.card_token

    def recording(*args: Any) -> str:
        issued.append(make_token(*args))
        return issued[-1]

    monkeypatch.setattr(cards, "card_token", recording)
    async with member_client(app, member) as c:
        page = await c.get("/me/card")
        assert page.status_code == 200 and "有效期至" in page.text
        assert "js/card" in page.text and "data-expires" in page.text
    fresh = await cards.check_card(keyring, issued[-1])
    assert fresh.valid and fresh.expires_at is not None
    days = app.state.settings.member_card_days
    assert now + timedelta(days=days - 1) < fresh.expires_at
    later = await cards.check_card(keyring, issued[-1], now=now + timedelta(days=days + 1))
    assert later.reason == "expired"


# --- the migration ---------------------------------------------------------------------------

UPGRADE_SCRIPT = """
import asyncio, sys
from datetime import UTC, datetime
from tortoise import Tortoise
from tortoise.migrations.api.migrate import migrate
from server.db import apply_migrations, fetch, tortoise_config

async def main(url, before):
    await migrate(config=tortoise_config(url), target=before)
    now = datetime.now(UTC)
    await fetch("INSERT INTO union_node (code, name, kind, path, auto_approve, member_seq, "
                "created_at) VALUES ('u', 'u', 'project', '/1/', ?, 0, ?)", False, now)
    await fetch("INSERT INTO officer (phone, name, role, password_hash, active, session_epoch, "
                "created_at, union_id) SELECT '13900009999', 'x', 'chair', 'h', ?, 0, ?, id "
                "FROM union_node", True, now)
    await Tortoise.close_connections()
    await apply_migrations(url)
    await Tortoise.init(config=tortoise_config(url))
    print(await fetch("SELECT version FROM officer"))
    await Tortoise.close_connections()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_migration_gives_existing_officers_a_version(tmp_path: Path) -> None:
    """The new NOT NULL column must go into a table that already has officers. Run in a
    child process: migrating opens and closes connections of its own."""
    import asyncio
    import importlib
    import sys

    from tests.conftest import make_database

    app_label, before = importlib.import_module(
        "server.migrations.0005_sessions").Migration.dependencies[0]
    url, drop = await make_database(tmp_path, "upgrade")
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", UPGRADE_SCRIPT, url, f"{app_label}.{before}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(child.communicate(), 120)
    finally:
        await drop()
    assert child.returncode == 0, err.decode()[-2000:]
    assert out.decode().strip() == "[(0,)]"
