"""Officer accounts and sign-in, rate limited (server.services.limits) across processes.

An officer's lifecycle goes through here: every change bumps `Officer.version` (each process
compares it with its cached snapshot on the officer's next request, server.access), and
deactivation or a new role ends all the officer's sessions at once, with an audit entry.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tortoise.expressions import F

from server.db import transaction
from server.errors import DomainError, TooManyAttempts
from server.i18n import gettext
from server.models import Officer, Role, Team, UnionNode
from server.passwords import MIN_LENGTH, hash_password, verify_password
from server.services import audit, limits, sessions
from server.validation import PHONE_RE


async def add_officer(*, phone: str, name: str, role: Role | str, union_code: str,
                      password: str, team: str | None = None) -> Officer:
    if not PHONE_RE.match(phone):
        raise DomainError(gettext("手机号应为 11 位数字，以 1 开头"))
    if len(password) < MIN_LENGTH:
        raise DomainError(gettext("密码至少 %(n)d 位") % {"n": MIN_LENGTH})
    name = name.strip()
    if not name or len(name) > 40:
        raise DomainError(gettext("请填写姓名（最多 40 个字）"))
    try:
        role = Role(role)
    except ValueError as exc:
        raise DomainError(gettext("角色应为：") + ", ".join(r.value for r in Role)) from exc
    union = await UnionNode.get_or_none(code=union_code)
    if union is None:
        raise DomainError(gettext("找不到工会组织代码 %(code)s") % {"code": union_code})
    if role in {Role.CADRE, Role.MANAGER} and not union.is_project:
        raise DomainError(gettext("工会干部和项目管理人员必须属于项目工会"))
    team_obj = None
    if team:
        team_obj = await Team.get_or_none(project=union, name=team)
        if team_obj is None:
            raise DomainError(gettext("项目里没有班组 %(team)s") % {"team": team})
    if await Officer.exists(phone=phone):
        raise DomainError(gettext("手机号 %(phone)s 已经有账号") % {"phone": phone})
    return await Officer.create(phone=phone, name=name, role=role, union=union, team=team_obj,
                                password_hash=hash_password(password))


async def deactivate(officer: Officer, by: Officer | None, *, ip: str = "") -> Officer:
    """Deactivate the account and end all its sessions: its next request, to any process,
    is refused. Deactivating an inactive account changes nothing and records nothing."""
    async with transaction():
        changed = await Officer.filter(id=officer.id, active=True).update(
            active=False, version=F("version") + 1)
        if changed:
            ended = await sessions.end_officer_sessions(officer.id)
            await audit.record(by, "officer.deactivate", officer, ip=ip, sessions_ended=ended)
    await officer.refresh_from_db()
    return officer


async def reactivate(officer: Officer, by: Officer | None, *, ip: str = "") -> Officer:
    """Let the officer sign in again (their old sessions stay ended)."""
    async with transaction():
        changed = await Officer.filter(id=officer.id, active=False).update(
            active=True, version=F("version") + 1)
        if changed:
            await audit.record(by, "officer.reactivate", officer, ip=ip)
    await officer.refresh_from_db()
    return officer


async def change_role(officer: Officer, role: Role | str, by: Officer | None, *,
                      ip: str = "") -> Officer:
    """Give the officer a new role and end their sessions, so no page, cached snapshot or
    open form keeps the old role's rights; they sign in again under the new one."""
    try:
        new_role = Role(role)
    except ValueError:
        raise DomainError(gettext("角色应为：") + ", ".join(r.value for r in Role),
                          field="role") from None
    union = await UnionNode.get(id=officer.union_id)  # type: ignore[attr-defined]
    if new_role in {Role.CADRE, Role.MANAGER} and not union.is_project:
        raise DomainError(gettext("工会干部和项目管理人员必须属于项目工会"), field="role")
    async with transaction():
        old = await Officer.filter(id=officer.id).values_list("role", flat=True)
        changed = await Officer.filter(id=officer.id).exclude(role=new_role).update(
            role=new_role, version=F("version") + 1)
        if changed:
            ended = await sessions.end_officer_sessions(officer.id)
            await audit.record(by, "officer.role", officer, ip=ip, old=str(old[0]),
                               new=new_role.value, sessions_ended=ended)
    await officer.refresh_from_db()
    return officer


async def end_all_sessions(officer: Officer, by: Officer | None, *, ip: str = "") -> int:
    """Sign the officer out everywhere (a lost phone), without changing the account."""
    ended = await sessions.end_officer_sessions(officer.id)
    await audit.record(by, "officer.sessions_ended", officer, ip=ip, sessions_ended=ended)
    return ended


async def authenticate(phone: str, password: str, ip: str) -> Officer | None:
    """The officer, or None for a wrong phone/password; TooManyAttempts (429) when locked.

    The attempt is counted per phone and per IP before the password is checked, so however
    many guesses arrive at once, at most the limit's number of them is ever checked. A
    right password gives back its own count only (failures before it still count): clearing
    the phone's window on success would hand whoever is guessing alongside a fresh one.
    """
    rules = limits.current()
    # Only digits go into the key: whatever else was typed is not a phone number.
    digits = re.sub(r"\D", "", phone)[:20]
    by_phone = await limits.bump(rules.login_phone, digits)
    by_ip = await limits.bump(rules.login_ip, ip)
    if by_phone.over or by_ip.over:
        raise TooManyAttempts(limits.wait_message(rules.login_phone if by_phone.over
                                                  else rules.login_ip))
    officer = None
    if PHONE_RE.match(phone):
        officer = await Officer.get_or_none(phone=phone, active=True).select_related("union")
    ok = verify_password(officer.password_hash if officer else None, password)
    if not ok or officer is None:
        return None
    await by_phone.refund()
    await by_ip.refund()
    officer.last_login_at = datetime.now(UTC)
    await officer.save(update_fields=["last_login_at"])
    return officer
