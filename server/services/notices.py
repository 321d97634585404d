"""Notices (通知公告): who may publish to whom, publishing exactly once, who receives a
notice, read receipts and acknowledgements.

A notice's recipients are computed from its scope whenever they are needed (see
`server.models.notices`); nothing here writes a row per recipient.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from server.db import GroupInsert, fetch_dicts, transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.labels import CHINA
from server.models import (
    Channel,
    FanoutJob,
    Member,
    MemberStatus,
    Notice,
    NoticeAck,
    NoticeKind,
    NoticePhoto,
    NoticeRead,
    NoticeScope,
    Officer,
    Role,
    Team,
    UnionNode,
)
from server.services import care
from server.services.photos import NO_PHOTOS, CleanedPhotos, CleanPhoto
from server.validation import Cleaner

MAX_TITLE = 60
MAX_BODY = 2000
MAX_DAYS = 366
MAX_PHOTOS = 1
# Kinds whose unread readers a chair or cadre is shown by name, to go and tell in person.
FOLLOW_UP_KINDS = frozenset({NoticeKind.SAFETY, NoticeKind.WAGES})

KIND_LABELS: dict[str, str] = {
    NoticeKind.WAGES: N_("工资发放"), NoticeKind.SAFETY: N_("安全提醒"),
    NoticeKind.EVENT: N_("活动"), NoticeKind.STUDY: N_("学习/政策"), NoticeKind.OTHER: N_("其他"),
}
SCOPE_LABELS: dict[str, str] = {
    NoticeScope.PROJECT: N_("全项目工友"), NoticeScope.TEAM: N_("一个班组"),
    NoticeScope.MINE: N_("我联系的工友"), NoticeScope.BELOW: N_("下属所有项目的工友"),
}


def allowed_scopes(officer: Officer) -> list[NoticeScope]:
    """What an officer may publish to: a project's chair and cadres their project or one
    team (cadres also their own members); an upper union every project below it."""
    if officer.role == Role.CADRE and officer.union.is_project:
        return [NoticeScope.MINE, NoticeScope.PROJECT, NoticeScope.TEAM]
    if officer.role == Role.CHAIR and officer.union.is_project:
        return [NoticeScope.PROJECT, NoticeScope.TEAM]
    if officer.role in {Role.UPPER, Role.CHAIR} and not officer.union.is_project:
        return [NoticeScope.BELOW]
    return []


@dataclass(frozen=True)
class NewNotice:
    client_id: uuid.UUID
    title: str
    body: str
    scope: NoticeScope
    team: Team | None
    kind: NoticeKind
    pinned: bool
    needs_ack: bool
    expires_at: datetime | None
    photo: CleanPhoto | None = None

    def same_as(self, notice: Notice, photo: NoticePhoto | None) -> bool:
        return (notice.title, notice.body, str(notice.scope), str(notice.kind),
                notice.team_id, notice.pinned, notice.needs_ack,  # type: ignore[attr-defined]
                photo.upload_sha256 if photo else None) == (
            self.title, self.body, self.scope.value, self.kind.value,
            self.team.id if self.team else None, self.pinned, self.needs_ack,
            self.photo.upload_sha256 if self.photo else None)


def clean(data: Mapping[str, object], officer: Officer, teams: list[Team],
          today: date | None = None, photos: CleanedPhotos = NO_PHOTOS,
          ) -> tuple[NewNotice | None, dict[str, str]]:
    """The publishing form, checked; `photos` were cleaned by `photos.clean_photos` (off the
    event loop) before, and their refusal is one more field error."""
    c = Cleaner(data)
    client_id = c.client_id()
    title = c.text("title", required=True, max_length=MAX_TITLE, label=N_("标题"))
    body = c.text("body", required=True, max_length=MAX_BODY, label=N_("内容"), multiline=True)
    scopes = allowed_scopes(officer)
    scope = c.choice("scope", {s.value: s for s in scopes}, required=True, label=N_("发给谁"))
    kind = c.choice("kind", {k.value: k for k in NoticeKind}, required=True, label=N_("类别"))
    team = None
    if scope == NoticeScope.TEAM:
        team_id = c.choice("team", {str(t.id): str(t.id) for t in teams}, required=True,
                           label=N_("班组"))
        team = next((t for t in teams if str(t.id) == team_id), None)
    expires_at = None
    raw_days = str(data.get("expires_days") or "").strip()
    if raw_days:
        if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_DAYS:
            c.errors["expires_days"] = gettext("有效天数应为 1 到 %(n)d") % {"n": MAX_DAYS}
        else:
            # Valid to the end of the last day, China time: "3 天" means through that evening.
            last = (today or datetime.now(CHINA).date()) + timedelta(days=int(raw_days) - 1)
            expires_at = datetime.combine(last, time(23, 59, 59), CHINA).astimezone(UTC)
    if photos.error:
        # The browser cannot put the file back in the form: say so, the text stays.
        c.errors["photo"] = photos.error + gettext("（请重新选择照片）")
    if c.errors:
        return None, c.errors
    return NewNotice(client_id, title, body, NoticeScope(scope), team, NoticeKind(kind),
                     bool(data.get("pinned")), bool(data.get("needs_ack")), expires_at,
                     photos.photos[0] if photos.photos else None), {}


async def publish(officer: Officer, new: NewNotice,
                  now: datetime | None = None) -> tuple[Notice, bool]:
    """Publish once per client_id (the officer's outbox may send it twice); a replay by the
    same officer with the same content answers the first notice, anything else is refused."""
    if new.scope not in allowed_scopes(officer):
        raise DomainError(gettext("你不能向这个范围发布通知"), status=403, field="scope")
    existing = await Notice.get_or_none(client_id=new.client_id)
    if existing is None:
        try:
            async with transaction() as tx:
                notice = await Notice.create(
                    client_id=new.client_id, author=officer, union_id=officer.union.id,
                    scope=new.scope, team=new.team,
                    liaison=officer if new.scope == NoticeScope.MINE else None,
                    kind=new.kind, title=new.title, body=new.body, pinned=new.pinned,
                    needs_ack=new.needs_ack, expires_at=new.expires_at,
                    created_at=now or datetime.now(UTC), using_db=tx)
                if new.photo is not None:
                    photo = new.photo
                    await NoticePhoto.create(
                        notice=notice, data=photo.data, content_type=photo.content_type,
                        size=len(photo.data), width=photo.width, height=photo.height,
                        sha256=photo.sha256, upload_sha256=photo.upload_sha256, using_db=tx)
                # One row however many it reaches: workers expand it (server.services.delivery).
                await FanoutJob.create(notice=notice, channel=Channel.PUSH,
                                       created_at=notice.created_at, using_db=tx)
            return notice, True
        except IntegrityError:
            existing = await Notice.get_or_none(client_id=new.client_id)
            if existing is None:
                raise
    stored = await NoticePhoto.get_or_none(notice_id=existing.id)
    if existing.author_id != officer.id or not new.same_as(existing, stored):  # type: ignore[attr-defined]
        raise invalid_form_key()
    return existing, False


# --- who receives a notice -------------------------------------------------------------------

def ancestors(node: UnionNode) -> list[int]:
    """Ids of the node and every node above it (from its materialised path)."""
    return [int(part) for part in node.path.strip("/").split("/") if part]


def for_member(member: Member, now: datetime | None = None) -> Q:
    """The notices `member` receives now: their project's, their team's, their liaison's own
    members', and every upper union's above their project; not expired."""
    now = now or datetime.now(UTC)
    q = (Q(scope=NoticeScope.PROJECT, union_id=member.project.id)
         | Q(scope=NoticeScope.BELOW, union_id__in=ancestors(member.project)))
    team_id = member.team_id  # type: ignore[attr-defined]
    if team_id is not None:
        q |= Q(scope=NoticeScope.TEAM, team_id=team_id)
    liaison_id = member.liaison_id  # type: ignore[attr-defined]
    if liaison_id is not None:
        q |= Q(scope=NoticeScope.MINE, liaison_id=liaison_id)
    return q & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def recipients(notice: Notice) -> Q:
    """The members a notice reaches (active members in its scope), as a Member filter."""
    base = Q(status=MemberStatus.ACTIVE)
    scope = NoticeScope(notice.scope)
    if scope == NoticeScope.PROJECT:
        return base & Q(project_id=notice.union_id)  # type: ignore[attr-defined]
    if scope == NoticeScope.TEAM:
        return base & Q(team_id=notice.team_id)  # type: ignore[attr-defined]
    if scope == NoticeScope.MINE:
        return base & Q(liaison_id=notice.liaison_id)  # type: ignore[attr-defined]
    projects = UnionNode.filter(path__startswith=notice.union.path, kind="project")
    return base & Q(project_id__in=Subquery(projects.values("id")))


async def list_for_member(member: Member, limit: int = 50) -> list[Notice]:
    if member.status != MemberStatus.ACTIVE:
        return []
    return await Notice.filter(for_member(member)).order_by("-pinned", "-id").limit(limit)


async def read_ids(member: Member, notice_ids: list[int]) -> set[int]:
    if not notice_ids:
        return set()
    rows = await NoticeRead.filter(member_id=member.id, notice_id__in=notice_ids).values_list(
        "notice_id", flat=True)
    return {int(r) for r in rows}  # type: ignore[call-overload]


async def unread_count(member: Member) -> int:
    """Notices the member receives and has not opened: a handful of rows per member, found
    through the scope indexes whatever the size of the union."""
    if member.status != MemberStatus.ACTIVE:
        return 0
    read = NoticeRead.filter(member_id=member.id).values("notice_id")
    return await Notice.filter(for_member(member)).exclude(id__in=Subquery(read)).count()


def reaches(notice: Notice, member: Member, now: datetime) -> bool:
    """Whether `member` receives `notice` now: `for_member`'s rule for one notice already in
    hand (tests/test_notice_receipts.py checks the two agree for every scope)."""
    if notice.expires_at is not None and notice.expires_at <= now:
        return False
    scope = NoticeScope(notice.scope)
    union_id = notice.union_id  # type: ignore[attr-defined]
    if scope == NoticeScope.PROJECT:
        return bool(union_id == member.project.id)
    if scope == NoticeScope.BELOW:
        return union_id in ancestors(member.project)
    if scope == NoticeScope.TEAM:
        team_id = member.team_id  # type: ignore[attr-defined]
        return team_id is not None and notice.team_id == team_id  # type: ignore[attr-defined]
    liaison_id = member.liaison_id  # type: ignore[attr-defined]
    return liaison_id is not None and notice.liaison_id == liaison_id  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Opened:
    notice: Notice
    acknowledged: bool
    photo: bool


# The notice by its key, with whether this member has opened and acknowledged it and whether
# it has a photo: one indexed read, where the ORM took four statements and most of the
# page's Python.
_OPEN = ("SELECT n.*, EXISTS (SELECT 1 FROM notice_read r WHERE r.notice_id = n.id "
         "AND r.member_id = ?) AS lx_read, EXISTS (SELECT 1 FROM notice_ack a "
         "WHERE a.notice_id = n.id AND a.member_id = ?) AS lx_acked, EXISTS (SELECT 1 FROM "
         "notice_photo p WHERE p.notice_id = n.id) AS lx_photo FROM notice n WHERE n.id = ?")
# The receipt: INSERT … ON CONFLICT DO NOTHING, autocommit. Two first openings at once
# (tabs, retries) both get there; the unique (notice, member) pair keeps one row. Openings
# that arrive together (a pay-date notice, 1,000 workers within seconds) share a statement
# and a commit (server.db.GroupInsert); each page is answered after its own row committed.
_RECEIPTS = GroupInsert("notice_read", ("notice_id", "member_id", "created_at"),
                        conflict=("notice_id", "member_id"))


async def open_for_member(member: Member, notice_id: int,
                          now: datetime | None = None) -> Opened | None:
    """The notice if the member receives it, and whether they acknowledged it; the first
    opening is recorded as read. Later openings write nothing (no sequence value used, no
    write lock taken on SQLite)."""
    if member.status != MemberStatus.ACTIVE or not 0 < notice_id < 2**31:
        return None
    now = now or datetime.now(UTC)
    rows = await fetch_dicts(_OPEN, member.id, member.id, notice_id)
    if not rows:
        return None
    row = rows[0]
    was_read, acked = bool(row.pop("lx_read")), bool(row.pop("lx_acked"))
    photo = bool(row.pop("lx_photo"))
    notice = Notice._init_from_db(**row)
    if not reaches(notice, member, now):
        return None
    if not was_read:
        await record_read(notice.id, member.id, now)
    return Opened(notice, acked, photo)


async def record_read(notice_id: int, member_id: int, now: datetime | None = None) -> None:
    """The read receipt, once per (notice, member) however often and however concurrently
    it is recorded. The caller has checked that the member receives the notice."""
    created = NoticeRead._meta.fields_map["created_at"].to_db_value(
        now or datetime.now(UTC), NoticeRead)
    await _RECEIPTS.insert((notice_id, member_id, created))


async def has_photo(notice: Notice) -> bool:
    return await NoticePhoto.exists(notice_id=notice.id)


async def photo_for_member(member: Member, notice_id: int) -> NoticePhoto | None:
    """A notice's photo, for a member the notice reaches (fetching it is not a read)."""
    if member.status != MemberStatus.ACTIVE or not 0 < notice_id < 2**31:
        return None
    if not await Notice.filter(for_member(member), id=notice_id).exists():
        return None
    return await NoticePhoto.get_or_none(notice_id=notice_id)


async def acknowledge(member: Member, notice: Notice, client_id: uuid.UUID) -> bool:
    """我已知晓, once per member (and once per client_id). True when newly recorded."""
    if not notice.needs_ack:
        raise DomainError(gettext("这条通知不需要确认"), status=409)
    done = await NoticeAck.get_or_none(client_id=client_id)
    if done is not None:
        if done.member_id != member.id or done.notice_id != notice.id:  # type: ignore[attr-defined]
            raise invalid_form_key()
        return False
    now = datetime.now(UTC)
    try:
        async with transaction():
            await NoticeAck.create(notice_id=notice.id, member_id=member.id,
                                   client_id=client_id, created_at=now)
            await care.note_contact(member.id, now)
    except IntegrityError:
        return False  # acknowledged before (another form, another tab)
    return True


async def acknowledged(member: Member, notice: Notice) -> bool:
    return await NoticeAck.exists(notice_id=notice.id, member_id=member.id)


# --- the officers' side ----------------------------------------------------------------------

def for_officer(officer: Officer) -> Q:
    """Notices an officer sees in their list: those of their own union node and below, and
    (in a project) those upper unions sent down to it."""
    if officer.role == Role.ADMIN:
        return Q()
    q = Q(union__path__startswith=officer.union.path)
    if officer.union.is_project:
        q |= Q(scope=NoticeScope.BELOW, union_id__in=ancestors(officer.union))
    return q


@dataclass(frozen=True)
class Receipts:
    recipients: int
    read: int
    acknowledged: int


async def receipts(notice: Notice) -> Receipts:
    """已读 N / M and 已确认 N / M. N counts receipts of members still among the recipients,
    so it never exceeds M when someone has left since."""
    reached = Member.filter(recipients(notice))
    total = await reached.count()
    members = Subquery(reached.values("id"))
    read = await NoticeRead.filter(notice_id=notice.id, member_id__in=members).count()
    acks = await NoticeAck.filter(notice_id=notice.id, member_id__in=members).count()
    return Receipts(total, read, acks)


async def not_read_by_my_members(notice: Notice, officer: Officer,
                                 limit: int = 200) -> list[Member]:
    """For a safety or pay notice: the officer's own members (a cadre's liaison members, a
    chair's whole project) who have not opened it yet, to go and tell in person. Nobody
    else's receipts: an upper union gets counts only."""
    if notice.kind not in FOLLOW_UP_KINDS or not officer.union.is_project:
        return []
    if officer.role == Role.CADRE:
        mine = Q(liaison_id=officer.id)
    elif officer.role == Role.CHAIR:
        mine = Q(project_id=officer.union.id)
    else:
        return []
    read = NoticeRead.filter(notice_id=notice.id).values("member_id")
    return await Member.filter(recipients(notice) & mine).exclude(
        id__in=Subquery(read)).order_by("name").limit(limit).select_related("team")
