"""One-time codes that move a worker's membership to a new phone (no passwords for workers)."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F

from server.crypto import Keyring
from server.i18n import N_, gettext
from server.models import LoginAttempt, Member, MemberStatus, Officer, RebindCode
from server.settings import Settings
from server.validation import Cleaner

CODE_DIGITS = 8
CODE_LIFETIME = timedelta(hours=24)


async def issue(member: Member, officer: Officer, keyring: Keyring) -> str:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # Only one live code per member: a new one replaces what an officer issued before.
    await RebindCode.filter(member=member, used_at__isnull=True).delete()
    await RebindCode.create(member=member, created_by=officer,
                            code_hash=keyring.keyed_hash(f"{member.id}:{code}"),
                            expires_at=datetime.now(UTC) + CODE_LIFETIME)
    return code


async def redeem(form: Mapping[str, object], keyring: Keyring, ip: str,
                 settings: Settings) -> tuple[Member | None, dict[str, str]]:
    c = Cleaner(form)
    phone = c.phone()
    code = c.text("code", required=True, max_length=12, label=N_("换机码"))
    if c.errors:
        return None, c.errors
    since = datetime.now(UTC) - timedelta(seconds=settings.login_window_seconds)
    key = f"rebind:{ip}"
    if await LoginAttempt.filter(key=key, success=False, created_at__gte=since).count() >= (
        settings.login_max_failures
    ):
        return None, {"limit": gettext("尝试次数太多，请过一会儿再试。")}
    now = datetime.now(UTC)
    for member in await Member.filter(phone=phone, status=MemberStatus.ACTIVE):
        rebind_code = await RebindCode.get_or_none(
            code_hash=keyring.keyed_hash(f"{member.id}:{code}"), used_at__isnull=True,
            expires_at__gt=now)
        if rebind_code is None:
            continue
        # Claim the code with a conditional UPDATE so two phones cannot both redeem it.
        claimed = await RebindCode.filter(id=rebind_code.id, used_at__isnull=True).update(
            used_at=now)
        if not claimed:
            break
        await Member.filter(id=member.id).update(session_epoch=F("session_epoch") + 1)
        await member.refresh_from_db()
        return member, {}
    await LoginAttempt.create(key=key)
    return None, {"code": gettext("换机码不对或已过期，请找工会干部重新获取")}
