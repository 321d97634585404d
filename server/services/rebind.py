"""One-time codes that move a worker's membership to a new phone (no passwords for workers)."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F

from server.crypto import Keyring
from server.i18n import N_, gettext
from server.models import Member, MemberStatus, Officer, RebindCode
from server.services import limits
from server.validation import Cleaner

CODE_DIGITS = 8
CODE_LIFETIME = timedelta(seconds=limits.REBIND_CODE_SECONDS)
REBIND_STATUSES = frozenset({MemberStatus.ACTIVE, MemberStatus.LEFT})


async def issue(member: Member, officer: Officer, keyring: Keyring) -> str:
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # Only one live code per member: a new one replaces what an officer issued before.
    await RebindCode.filter(member=member, used_at__isnull=True).delete()
    await RebindCode.create(member=member, created_by=officer,
                            code_hash=keyring.keyed_hash(f"{member.id}:{code}"),
                            expires_at=datetime.now(UTC) + CODE_LIFETIME)
    return code


async def redeem(form: Mapping[str, object], keyring: Keyring,
                 ip: str) -> tuple[Member | None, dict[str, str]]:
    """The member moved to this device, or None and the errors ("limit" when locked).

    Every try is counted before any code is compared: per IP and per phone in the re-bind
    window, and per live code over the code's lifetime. A code dies after the allowed
    number of tries against its member, right or wrong, so parallel guesses cannot beat
    the odds of a handful of tries.
    """
    c = Cleaner(form)
    phone = c.phone()
    code = c.text("code", required=True, max_length=12, label=N_("换机码"))
    if c.errors:
        return None, c.errors
    rules = limits.current()
    exceeded = await limits.hit_all((rules.rebind_ip, ip), (rules.rebind_phone, phone))
    if exceeded is not None:
        return None, {"limit": limits.wait_message(exceeded)}
    now = datetime.now(UTC)
    # A member who left may move to a new phone too: to read their old requests, or to
    # join the next site from it keeping their number.
    live = await RebindCode.filter(member__phone=phone,
                                   member__status__in=list(REBIND_STATUSES),
                                   used_at__isnull=True, expires_at__gt=now)
    for rebind_code in live:
        started = int((rebind_code.expires_at - CODE_LIFETIME).timestamp())
        tries = await limits.bump(rules.rebind_code, str(rebind_code.id), window_start=started)
        if tries.over:
            await _kill(rebind_code, now)
            continue
        member_id = rebind_code.member_id  # type: ignore[attr-defined]
        if not hmac.compare_digest(rebind_code.code_hash,
                                   keyring.keyed_hash(f"{member_id}:{code}")):
            if tries.hits >= tries.limit.max_hits:
                await _kill(rebind_code, now)
            continue
        # Claim the code with a conditional UPDATE so two phones cannot both redeem it.
        claimed = await RebindCode.filter(id=rebind_code.id, used_at__isnull=True).update(
            used_at=now)
        if not claimed:
            break
        await Member.filter(id=member_id).update(session_epoch=F("session_epoch") + 1)
        return await Member.get(id=member_id), {}
    return None, {"code": gettext("换机码不对或已过期，请找工会干部重新获取")}


async def _kill(rebind_code: RebindCode, now: datetime) -> None:
    """Use a code up without moving anybody: it has been tried too often."""
    await RebindCode.filter(id=rebind_code.id, used_at__isnull=True).update(used_at=now)
