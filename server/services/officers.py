"""Officer accounts and sign-in, rate limited (server.services.limits) across processes.

An officer's lifecycle goes through here: every change bumps `Officer.version` (each process
compares it with its cached snapshot on the officer's next request, server.access), and
deactivation or a new role ends all the officer's sessions at once, with an audit entry.
Deactivation hands the officer's members and open requests on (server.services.handover).

Accounts made on the web get no password from whoever makes them: they get a one-time code
(shown once to the officer who made the account), with which the new officer sets their own
password; a reset works the same way. Only the code's keyed hash is kept; it expires, works
once, and dies after a few tries, counted before any comparison (server.services.limits).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.expressions import F, Q, Subquery
from tortoise.functions import Count

from server.crypto import Keyring
from server.db import transaction
from server.errors import DomainError, TooManyAttempts
from server.i18n import gettext
from server.models import (
    Member,
    MemberStatus,
    NodeKind,
    Officer,
    PasswordCode,
    Role,
    ServiceRequest,
    Team,
    UnionNode,
)
from server.models.requests import OPEN_STATUSES
from server.passwords import MIN_LENGTH, hash_password, verify_password
from server.services import audit, handover, limits, partners, sessions
from server.validation import PHONE_RE

CODE_DIGITS = 10
CODE_LIFETIME = timedelta(seconds=limits.PASSWORD_CODE_SECONDS)
MAX_PASSWORD = 200
# What `password_hash` holds while the officer has no password of their own (an account
# made on the web, or reset): not an argon2 hash, so no password matches it.
NO_PASSWORD = "!"  # noqa: S105 - a marker, not a password
# Roles that belong to a project union; an upper-union officer belongs to a node above.
PROJECT_ROLES = frozenset({Role.CHAIR, Role.CADRE, Role.MANAGER})


def role_fits(role: Role, node: UnionNode) -> bool:
    """Whether an officer of `role` may belong to `node`."""
    if role in PROJECT_ROLES:
        return node.is_project
    if role == Role.UPPER:
        return not node.is_project
    return True


def _role_error(role: Role) -> DomainError:
    if role == Role.UPPER:
        return DomainError(gettext("上级工会干部不能属于项目工会"), field="role")
    return DomainError(gettext("工会主席、工会干部和项目管理人员必须属于项目工会"),
                       field="role")


async def add_officer(*, phone: str, name: str, role: Role | str, union_code: str,
                      password: str | None, team: str | None = None,
                      team_id: int | None = None,
                      partner: Mapping[str, object] | None = None) -> Officer:
    """A new account; `password` None makes one without a password (see `appoint`).
    A partner's account needs `partner`: the fields `organisation` and `partner_kind`
    (server.services.partners)."""
    phone = phone.strip()
    if not PHONE_RE.match(phone):
        raise DomainError(gettext("手机号应为 11 位数字，以 1 开头"), field="phone")
    if password is not None and len(password) < MIN_LENGTH:
        raise DomainError(gettext("密码至少 %(n)d 位") % {"n": MIN_LENGTH}, field="password")
    name = name.strip()
    if not name or len(name) > 40:
        raise DomainError(gettext("请填写姓名（最多 40 个字）"), field="name")
    try:
        role = Role(role)
    except ValueError as exc:
        raise DomainError(gettext("角色应为：") + ", ".join(r.value for r in Role),
                          field="role") from exc
    union = await UnionNode.get_or_none(code=union_code)
    if union is None:
        raise DomainError(gettext("找不到工会组织代码 %(code)s") % {"code": union_code},
                          field="union")
    if not role_fits(role, union):
        raise _role_error(role)
    team_obj = None
    if team or team_id:
        team_obj = await (Team.get_or_none(project=union, name=team) if team else
                          Team.get_or_none(project=union, id=team_id))
        if team_obj is None:
            raise DomainError(gettext("项目里没有班组 %(team)s") % {"team": team or team_id},
                              field="team")
    profile = partners.clean_profile(partner or {}) if role == Role.PARTNER else None
    if profile is not None and team_obj is not None:
        raise DomainError(gettext("协办单位账号不属于班组"), field="team")
    if await Officer.exists(phone=phone):
        raise DomainError(gettext("手机号 %(phone)s 已经有账号") % {"phone": phone},
                          field="phone")
    async with transaction():
        officer = await Officer.create(
            phone=phone, name=name, role=role, union=union, team=team_obj,
            password_hash=NO_PASSWORD if password is None else hash_password(password))
        if profile is not None:
            await partners.save_profile(officer, *profile)
    return officer


@dataclass
class Outcome:
    """What a change to an account did, for the page or the command line to report."""

    changed: bool
    sessions_ended: int = 0
    handed_over: handover.HandOver = field(default_factory=handover.HandOver)
    code: str = ""  # a one-time password code, shown once


async def deactivate(officer: Officer, by: Officer | None, *, ip: str = "") -> Outcome:
    """Deactivate the account, end all its sessions (its next request, to any process, is
    refused), void its password codes and hand its members and open requests on, all in one
    transaction. Deactivating an inactive account changes nothing and records nothing."""
    outcome = Outcome(False)
    now = datetime.now(UTC)
    async with transaction():
        changed = await Officer.filter(id=officer.id, active=True).update(
            active=False, version=F("version") + 1)
        if changed:
            outcome.changed = True
            outcome.sessions_ended = await sessions.end_officer_sessions(officer.id, now)
            await PasswordCode.filter(officer_id=officer.id, used_at__isnull=True).update(
                used_at=now)
            fresh = await Officer.get(id=officer.id)
            outcome.handed_over = await handover.hand_over(fresh, by, now)
            await audit.record(by, "officer.deactivate", officer, ip=ip,
                               sessions_ended=outcome.sessions_ended,
                               handed_over=outcome.handed_over.summary())
    await officer.refresh_from_db()
    return outcome


async def reactivate(officer: Officer, by: Officer | None, *, ip: str = "") -> Outcome:
    """Let the officer sign in again (their old sessions stay ended). Members and requests
    handed on stay where they went (the chair can move them back); what waits for nobody
    (a project left without cadre and chair) comes to them."""
    outcome = Outcome(False)
    async with transaction():
        changed = await Officer.filter(id=officer.id, active=False).update(
            active=True, version=F("version") + 1)
        if changed:
            outcome.changed = True
            outcome.handed_over = await _adopt(officer, by)
            await audit.record(by, "officer.reactivate", officer, ip=ip,
                               adopted=outcome.handed_over.summary())
    await officer.refresh_from_db()
    return outcome


async def _adopt(officer: Officer, by: Officer | None) -> handover.HandOver:
    fresh = await Officer.get(id=officer.id).select_related("union")
    if fresh.role == Role.PARTNER and fresh.active:
        return await handover.adopt_referrals(fresh, by)
    if fresh.role not in {Role.CADRE, Role.CHAIR} or not fresh.active:
        return handover.HandOver()
    return await handover.adopt_orphans(fresh.union, by)


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
    if not role_fits(new_role, union):
        raise _role_error(new_role)
    async with transaction():
        old = await Officer.filter(id=officer.id).values_list("role", flat=True)
        changed = await Officer.filter(id=officer.id).exclude(role=new_role).update(
            role=new_role, version=F("version") + 1)
        if changed:
            ended = await sessions.end_officer_sessions(officer.id)
            moved = handover.HandOver()
            if str(old[0]) in {Role.CADRE, Role.CHAIR} and new_role not in {
                    Role.CADRE, Role.CHAIR}:
                # A manager (or upper officer) is nobody's liaison and holds no requests.
                moved = await handover.hand_over(await Officer.get(id=officer.id), by)
            else:
                moved = await _adopt(officer, by)
            await audit.record(by, "officer.role", officer, ip=ip, old=str(old[0]),
                               new=new_role.value, sessions_ended=ended,
                               **({"handed_over": moved.summary()}
                                  if moved.receivers or moved.rota_days else {}))
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
    # An account without a password costs the same time as a wrong one (the dummy hash).
    stored = officer.password_hash if officer and officer.password_hash != NO_PASSWORD else None
    ok = verify_password(stored, password)
    if not ok or officer is None:
        return None
    await by_phone.refund()
    await by_ip.refund()
    officer.last_login_at = datetime.now(UTC)
    await officer.save(update_fields=["last_login_at"])
    return officer


# --- accounts made and reset on the web -------------------------------------------------------

def _code_hash(keyring: Keyring, officer_id: int, code: str) -> str:
    return keyring.keyed_hash(f"password-code:{officer_id}:{code}")


def format_code(code: str) -> str:
    """Ten digits read out over the phone in two groups of five."""
    return f"{code[:5]} {code[5:]}"


async def _new_code(officer_id: int, by: Officer | None, keyring: Keyring,
                    now: datetime) -> str:
    """A fresh code for the officer; any code issued before stops working."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    await PasswordCode.filter(officer_id=officer_id, used_at__isnull=True).update(used_at=now)
    await PasswordCode.create(officer_id=officer_id, created_by=by,
                              code_hash=_code_hash(keyring, officer_id, code),
                              expires_at=now + CODE_LIFETIME)
    return code


async def officer_at(phone: str, node: UnionNode) -> Officer | None:
    """The active account with this phone at this union node, if there is one."""
    return await Officer.get_or_none(phone=phone.strip(), union_id=node.id,
                                     active=True).select_related("union")


async def appoint(by: Officer, *, phone: str, name: str, role: Role | str, union_code: str,
                  team_id: int | None, keyring: Keyring, ip: str = "",
                  partner: Mapping[str, object] | None = None) -> tuple[Officer, Outcome]:
    """A new account made on the web (the caller has checked `by` may appoint `role` at
    that union): no password, a one-time code to set one. Members and requests of the
    project that wait for nobody come to a new cadre or chair."""
    now = datetime.now(UTC)
    async with transaction():
        officer = await add_officer(phone=phone, name=name, role=role, union_code=union_code,
                                    password=None, team_id=team_id, partner=partner)
        outcome = Outcome(True, code=await _new_code(officer.id, by, keyring, now))
        outcome.handed_over = await _adopt(officer, by)
        await audit.record(by, "officer.add", officer, ip=ip, role=str(officer.role),
                           union=union_code, adopted=outcome.handed_over.summary())
    return officer, outcome


async def reset_password(officer: Officer, by: Officer | None, keyring: Keyring, *,
                         ip: str = "") -> Outcome:
    """A one-time code for the officer to set a new password with. The old password stops
    working and every session ends now: a reset is asked for when a password is forgotten
    or may be known to someone else, and in the second case it must not keep working."""
    if not officer.active:
        raise DomainError(gettext("账号已停用：请先恢复账号"), status=409)
    now = datetime.now(UTC)
    async with transaction():
        code = await _new_code(officer.id, by, keyring, now)
        await Officer.filter(id=officer.id).update(password_hash=NO_PASSWORD,
                                                   version=F("version") + 1)
        ended = await sessions.end_officer_sessions(officer.id, now)
        await audit.record(by, "officer.password_reset", officer, ip=ip, sessions_ended=ended)
    await officer.refresh_from_db()
    return Outcome(True, sessions_ended=ended, code=code)


@dataclass(frozen=True)
class NewPassword:
    phone: str
    code: str
    password: str
    repeat: str


def check_new_password(form: NewPassword) -> dict[str, str]:
    """What is wrong with the form itself (nothing secret is looked at)."""
    errors: dict[str, str] = {}
    if not PHONE_RE.match(form.phone):
        errors["phone"] = gettext("手机号应为 11 位数字，以 1 开头")
    if not re.sub(r"\D", "", form.code):
        errors["code"] = gettext("请填写设置码")
    if not MIN_LENGTH <= len(form.password) <= MAX_PASSWORD:
        errors["password"] = gettext("密码至少 %(n)d 位") % {"n": MIN_LENGTH}
    elif form.password != form.repeat:
        errors["repeat"] = gettext("两次输入的密码不一样")
    return errors


async def set_password_with_code(form: NewPassword, keyring: Keyring, ip: str) -> Officer:
    """The officer, with the new password set; DomainError (field "code") for a wrong or
    spent code, TooManyAttempts when locked.

    Every try is counted before the code is compared: per IP and per phone in the login's
    window, and per live code over the code's lifetime. A code dies after the allowed
    number of tries, right or wrong, so forty guesses at once get no more comparisons
    than five one after the other.
    """
    errors = check_new_password(form)
    if errors:
        field_name, message = next(iter(errors.items()))
        raise DomainError(message, field=field_name)
    rules = limits.current()
    by_ip = await limits.bump(rules.password_ip, ip)
    by_phone = await limits.bump(rules.password_phone, form.phone)
    if by_ip.over or by_phone.over:
        raise TooManyAttempts(limits.wait_message(rules.password_ip if by_ip.over
                                                  else rules.password_phone))
    code = re.sub(r"\D", "", form.code)[:20]
    now = datetime.now(UTC)
    live = await PasswordCode.filter(officer__phone=form.phone, officer__active=True,
                                     used_at__isnull=True, expires_at__gt=now)
    for item in live:
        started = int((item.expires_at - CODE_LIFETIME).timestamp())
        tries = await limits.bump(rules.password_code, str(item.id), window_start=started)
        if tries.over:
            await _spend(item, now)
            continue
        officer_id = item.officer_id  # type: ignore[attr-defined]
        if not hmac.compare_digest(item.code_hash, _code_hash(keyring, officer_id, code)):
            if tries.hits >= tries.limit.max_hits:
                await _spend(item, now)
            continue
        async with transaction():
            # Claimed by a conditional UPDATE: of two forms sent with it, one wins.
            if not await PasswordCode.filter(id=item.id, used_at__isnull=True).update(
                    used_at=now):
                break
            await Officer.filter(id=officer_id).update(
                password_hash=hash_password(form.password), version=F("version") + 1,
                session_epoch=F("session_epoch") + 1)
            officer = await Officer.get(id=officer_id).select_related("union")
            await audit.record(officer, "officer.password_set", officer, ip=ip)
        await by_ip.refund()
        await by_phone.refund()
        return officer
    raise DomainError(gettext("设置码不对、已用过或已过期，请找管理你账号的人重新获取"),
                      field="code")


async def _spend(item: PasswordCode, now: datetime) -> None:
    """Use a code up without setting anything: it has been tried too often."""
    await PasswordCode.filter(id=item.id, used_at__isnull=True).update(used_at=now)


# --- the list of accounts ---------------------------------------------------------------------

@dataclass
class AccountRow:
    officer: Officer
    members: int
    open_requests: int


async def roster(scope: Q, *, term: str = "", under: UnionNode | None = None,
                 page: int = 1, page_size: int = 50) -> tuple[list[AccountRow], int]:
    """The accounts in `scope` (the viewer's, from server.access), active ones first, with
    how many members each is liaison for and how many open requests each holds."""
    query = Officer.filter(scope)
    if under is not None:
        query = query.filter(union__path__startswith=under.path)
    if term:
        text = Q(name__icontains=term)
        if PHONE_RE.fullmatch(term):
            text |= Q(phone=term)
        query = query.filter(text)
    total = await query.count()
    officers = await query.order_by("-active", "union__path", "role", "name", "id").offset(
        (page - 1) * page_size).limit(page_size).select_related("union", "team")
    ids = [o.id for o in officers]
    members: dict[int, int] = {}
    open_requests: dict[int, int] = {}
    if ids:
        members = {int(i): int(n) for i, n in await Member.filter(
            liaison_id__in=ids, status=MemberStatus.ACTIVE).annotate(n=Count("id")).group_by(
            "liaison_id").values_list("liaison_id", "n")}
        open_requests = {int(i): int(n) for i, n in await ServiceRequest.filter(
            assignee_id__in=ids, status__in=list(OPEN_STATUSES)).annotate(
            n=Count("id")).group_by("assignee_id").values_list("assignee_id", "n")}
    return [AccountRow(o, members.get(o.id, 0), open_requests.get(o.id, 0))
            for o in officers], total


async def projects_without_chair(nodes: Q, limit: int = 50) -> tuple[list[UnionNode], int]:
    """Project unions in `nodes` with no active chair: an upper union appoints one."""
    chaired = Subquery(Officer.filter(role=Role.CHAIR, active=True).values("union_id"))
    query = UnionNode.filter(nodes, kind=NodeKind.PROJECT).exclude(id__in=chaired)
    return await query.order_by("path").limit(limit), await query.count()


async def by_phone(phone: str) -> Officer:
    officer = await Officer.get_or_none(phone=phone.strip()).select_related("union")
    if officer is None:
        raise DomainError(gettext("没有手机号为 %(phone)s 的干部账号") % {"phone": phone})
    return officer


def listing_lines(rows: Sequence[AccountRow]) -> list[str]:
    """The command line's `officer list`: one tab-separated line per account."""
    lines = ["phone\trole\tstatus\tunion\tteam\tmembers\topen_requests\tname"]
    for row in rows:
        o = row.officer
        lines.append("\t".join([
            o.phone, str(o.role), "active" if o.active else "inactive", o.union.code,
            o.team.name if o.team else "-", str(row.members), str(row.open_requests),
            o.name]))
    return lines
