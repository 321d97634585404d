"""Requests (诉求): filing exactly once, and the state machine every later step goes through.

Every change is a `RequestEvent`; nothing on a request changes without one. Transitions are
declared as data in `TRANSITIONS`, so the rules can be read (and tested) in one place.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from server.db import insert_like, transaction
from server.i18n import N_, gettext
from server.models import (
    Anonymity,
    Category,
    EventKind,
    Level,
    Member,
    MemberStatus,
    Officer,
    RequestEvent,
    RequestPhoto,
    Role,
    ServiceRequest,
    Status,
    Urgency,
)
from server.services import deadlines, membership
from server.services.photos import MAX_PHOTOS, CleanPhoto, PhotoError, clean_photo
from server.validation import Cleaner

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000
# Items per outbox batch: one round trip and one transaction for a day's worth of filing.
MAX_BATCH = 100

CATEGORY_LABELS: dict[str, str] = {
    Category.WAGES: N_("工资"), Category.SAFETY: N_("安全"), Category.LIVING: N_("生活住宿"),
    Category.FAMILY_VISIT: N_("探亲"), Category.TRAVEL_HOME: N_("返乡"),
    Category.LEGAL: N_("法律"), Category.HEALTH: N_("医疗健康"),
    Category.COUNSELLING: N_("心理疏导"), Category.TRAINING: N_("技能培训"),
    Category.SUGGESTION: N_("五小建议"), Category.OTHER: N_("其他"),
}
STATUS_LABELS: dict[str, str] = {
    Status.SUBMITTED: N_("待受理"), Status.ACKNOWLEDGED: N_("已受理"),
    Status.IN_PROGRESS: N_("办理中"), Status.RESOLVED: N_("已办结"),
    Status.CLOSED: N_("已确认"), Status.DECLINED: N_("不予受理"),
}
LEVEL_LABELS: dict[str, str] = {
    Level.CADRE: N_("工会干部"), Level.CHAIR: N_("工会主席"), Level.UPPER: N_("上级工会"),
}
EVENT_LABELS: dict[str, str] = {
    EventKind.SUBMITTED: N_("提交了诉求"), EventKind.ACKNOWLEDGED: N_("已受理"),
    EventKind.REPLY: N_("工会回复"), EventKind.WORKER_REPLY: N_("工友补充"),
    EventKind.NOTE: N_("内部备注"), EventKind.ESCALATED: N_("已上报"),
    EventKind.AUTO_ESCALATED: N_("超时未办，自动上报"),
    EventKind.REFERRED: N_("已转项目管理人员"),
    EventKind.MANAGEMENT_REPLY: N_("项目管理人员答复"), EventKind.RESOLVED: N_("已办结"),
    EventKind.DECLINED: N_("不予受理"), EventKind.DUPLICATE: N_("与其他诉求重复"),
    EventKind.CONFIRMED: N_("工友确认已解决"), EventKind.AUTO_CLOSED: N_("超时自动确认"),
    EventKind.REOPENED: N_("工友表示没有解决"), EventKind.RATED: N_("工友评价"),
    EventKind.REASSIGNED: N_("更换负责干部"),
}
# Events whose text the worker reads; other events show the worker only their label.
WORKER_READABLE_NOTES = {
    EventKind.SUBMITTED, EventKind.REPLY, EventKind.WORKER_REPLY,
    EventKind.MANAGEMENT_REPLY, EventKind.RESOLVED, EventKind.DECLINED,
    EventKind.REOPENED, EventKind.RATED,
}
NEXT_LEVEL = {Level.CADRE: Level.CHAIR, Level.CHAIR: Level.UPPER}


class RequestError(ValueError):
    """A refused action; the message is for the user."""


# --- filing ----------------------------------------------------------------------------------

@dataclass
class NewRequest:
    client_id: uuid.UUID
    category: Category
    description: str
    urgency: Urgency
    anonymity: Anonymity
    photos: list[tuple[bytes, str]] = field(default_factory=list)


def clean_new_request(data: Mapping[str, object],
                      uploads: Sequence[tuple[bytes, str]]) -> tuple[NewRequest | None,
                                                                   dict[str, str],
                                                                   list[CleanPhoto]]:
    c = Cleaner(data)
    client_id = c.client_id()
    category = c.choice("category", {str(k): k for k in Category}, required=True,
                        label=N_("诉求类别"))
    description = c.text("description", required=True, max_length=MAX_DESCRIPTION,
                         label=N_("诉求内容"))
    urgency = c.choice("urgency", {str(k): k for k in Urgency}, required=False,
                       label=N_("紧急程度")) or Urgency.NORMAL
    anonymity = c.choice("anonymous", {str(k): k for k in Anonymity}, required=False,
                         label=N_("匿名")) or Anonymity.MANAGEMENT
    photos: list[CleanPhoto] = []
    if len(uploads) > MAX_PHOTOS:
        c.errors["photo"] = gettext("最多上传 %(n)d 张照片") % {"n": MAX_PHOTOS}
    else:
        for raw, name in uploads:
            try:
                photos.append(clean_photo(raw, name))
            except PhotoError as exc:
                c.errors["photo"] = str(exc)
                break
    if c.errors:
        return None, c.errors, []
    return NewRequest(client_id, Category(category), description, Urgency(urgency),
                      Anonymity(anonymity)), {}, photos


@dataclass
class FiledRequest:
    request: ServiceRequest
    created: bool


async def file_request(member: Member, new: NewRequest, photos: Sequence[CleanPhoto],
                       now: datetime | None = None) -> FiledRequest:
    """Create the request once per client_id; a replay returns the first one unchanged."""
    existing = await ServiceRequest.get_or_none(client_id=new.client_id)
    if existing is not None:
        if existing.member_id != member.id:  # type: ignore[attr-defined]
            raise RequestError(gettext("表单编号无效，请刷新页面后重新提交"))
        return FiledRequest(existing, False)
    if member.status != MemberStatus.ACTIVE:
        raise RequestError(gettext("入会申请通过后才能提交诉求"))
    now = now or datetime.now(UTC)
    project = member.project
    targets = (await deadlines.targets_for(project))[new.category]
    ack_due = now + timedelta(hours=targets.ack_hours)
    resolve_due = deadlines.add_workdays(now, targets.resolve_workdays)
    try:
        async with transaction():
            request = await ServiceRequest.create(
                client_id=new.client_id, member=member, project=project,
                project_path=project.path, category=new.category,
                description=new.description, urgency=new.urgency, anonymity=new.anonymity,
                assignee_id=await membership.filing_assignee_id(member),
                created_at=now, ack_due_at=ack_due, resolve_due_at=resolve_due,
                level_due_at=ack_due,
            )
            for photo in photos:
                await RequestPhoto.create(request=request, data=photo.data,
                                          content_type=photo.content_type,
                                          size=len(photo.data), width=photo.width,
                                          height=photo.height, sha256=photo.sha256,
                                          upload_sha256=photo.upload_sha256)
            await _event(request, EventKind.SUBMITTED, by_worker=True, now=now)
    except IntegrityError:
        existing = await ServiceRequest.get_or_none(client_id=new.client_id)
        if existing is None:
            raise
        return FiledRequest(existing, False)
    return FiledRequest(request, True)


@dataclass(frozen=True)
class Filed:
    request_id: int
    created: bool


async def file_requests(
    member: Member, batch: Sequence[NewRequest], now: datetime | None = None,
) -> dict[uuid.UUID, Filed | RequestError]:
    """File a batch from one member's outbox in one transaction, a fixed handful of queries
    however many items: what `file_request` does for one, with the same answers per item.

    Exactly once holds under concurrent flushes of the same items (two tabs, the service
    worker): both inserts skip rows that exist (ON CONFLICT DO NOTHING on client_id), and the
    filing event carries the request's client_id, so it too is written once.
    """
    now = now or datetime.now(UTC)
    wanted = list(dict.fromkeys(new.client_id for new in batch))
    refused: dict[uuid.UUID, RequestError] = {}
    async with transaction() as conn:
        # (client_id, id, member_id) rows, not models: building models is most of the cost.
        found = await ServiceRequest.filter(client_id__in=wanted).values_list(
            "client_id", "id", "member_id")
        known = {row[0]: row for row in found}
        fresh = [new for new in {n.client_id: n for n in batch}.values()
                 if new.client_id not in known]
        if fresh and member.status != MemberStatus.ACTIVE:
            refusal = RequestError(gettext("入会申请通过后才能提交诉求"))
            refused = {new.client_id: refusal for new in fresh}
            fresh = []
        created: set[uuid.UUID] = set()
        if fresh:
            await _insert_new(conn, member, fresh, now)
            inserted = await ServiceRequest.filter(
                client_id__in=[new.client_id for new in fresh]).using_db(conn).values_list(
                "client_id", "id", "member_id")
            known.update({row[0]: row for row in inserted})
            created = {row[0] for row in inserted}
            ids = ",".join(str(int(row[1])) for row in inserted)
            # The filing event of each new request, written by the database from the rows
            # just inserted; its client_id is the request's, so a concurrent flush that
            # inserted the same rows cannot add a second one.
            await conn.execute_query(
                "INSERT INTO request_event (request_id, kind, actor_id, by_worker, public, "  # noqa: S608
                "note, detail, client_id, created_at) "
                f"SELECT id, '{EventKind.SUBMITTED.value}', NULL, TRUE, TRUE, '', '{{}}', "
                f"client_id, created_at FROM service_request WHERE id IN ({ids}) "
                f"AND member_id = {int(member.id)} AND last_event_id = 0 "
                "ON CONFLICT DO NOTHING")
            newest = ("(SELECT MAX(e.id) FROM request_event e "
                      "WHERE e.request_id = service_request.id)")
            await conn.execute_query(
                f"UPDATE service_request SET last_event_id = {newest}, "  # noqa: S608
                f"last_public_event_id = {newest}, worker_seen_event_id = {newest} "
                f"WHERE id IN ({ids}) AND last_event_id = 0")
    wrong_owner = RequestError(gettext("表单编号无效，请刷新页面后重新提交"))
    results: dict[uuid.UUID, Filed | RequestError] = {}
    for client_id in wanted:
        if client_id in refused:
            results[client_id] = refused[client_id]
            continue
        _, request_id, owner_id = known[client_id]
        if owner_id != member.id:
            results[client_id] = wrong_owner
        else:
            results[client_id] = Filed(request_id, client_id in created)
    return results


async def _insert_new(conn: BaseDBAsyncClient, member: Member, fresh: Sequence[NewRequest],
                      now: datetime) -> None:
    project = member.project
    targets = await deadlines.targets_for(project)
    resolve_due = {c: deadlines.add_workdays(now, targets[c].resolve_workdays)
                   for c in {new.category for new in fresh}}
    first = fresh[0]
    template = ServiceRequest(
        client_id=first.client_id, member_id=member.id, project_id=project.id,
        project_path=project.path, category=first.category, description=first.description,
        urgency=first.urgency, anonymity=first.anonymity,
        assignee_id=await membership.filing_assignee_id(member),
        created_at=now, ack_due_at=now, level_due_at=now, resolve_due_at=now)
    rows = []
    for new in fresh:
        ack_due = now + timedelta(hours=targets[new.category].ack_hours)
        rows.append({"client_id": new.client_id, "category": new.category,
                     "description": new.description, "urgency": new.urgency,
                     "anonymity": new.anonymity, "created_at": now, "ack_due_at": ack_due,
                     "level_due_at": ack_due, "resolve_due_at": resolve_due[new.category]})
    await insert_like(conn, template, rows)


async def _event(request: ServiceRequest, kind: EventKind, *, actor: Officer | None = None,
                 by_worker: bool = False, public: bool = True, note: str = "",
                 detail: dict[str, object] | None = None, client_id: uuid.UUID | None = None,
                 now: datetime | None = None) -> RequestEvent:
    event = await RequestEvent.create(request=request, kind=kind, actor=actor,
                                      by_worker=by_worker, public=public, note=note,
                                      detail=detail or {}, client_id=client_id,
                                      created_at=now or datetime.now(UTC))
    request.last_event_id = event.id
    fields = ["last_event_id"]
    if public:
        request.last_public_event_id = event.id
        fields.append("last_public_event_id")
    if by_worker:
        # What the worker wrote is not an unread reply for them.
        request.worker_seen_event_id = event.id
        fields.append("worker_seen_event_id")
    await request.save(update_fields=fields)
    return event


# --- the state machine -----------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    kind: EventKind
    sources: frozenset[Status]
    roles: frozenset[Role]
    target: Status | None = None
    public: bool = True
    needs_note: bool = False


_OPEN = frozenset({Status.SUBMITTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS})
_UNION = frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE, Role.UPPER})

TRANSITIONS: dict[str, Transition] = {
    "acknowledge": Transition(EventKind.ACKNOWLEDGED, frozenset({Status.SUBMITTED}), _UNION,
                              Status.ACKNOWLEDGED),
    "reply": Transition(EventKind.REPLY, _OPEN, _UNION, Status.IN_PROGRESS, needs_note=True),
    "note": Transition(EventKind.NOTE, _OPEN | {Status.RESOLVED}, _UNION, None, public=False,
                       needs_note=True),
    "escalate": Transition(EventKind.ESCALATED, _OPEN,
                           frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE})),
    "refer": Transition(EventKind.REFERRED, _OPEN, frozenset({Role.ADMIN, Role.CHAIR}),
                        Status.IN_PROGRESS),
    "management_reply": Transition(EventKind.MANAGEMENT_REPLY, _OPEN,
                                   frozenset({Role.MANAGER, Role.ADMIN}), None,
                                   needs_note=True),
    "resolve": Transition(EventKind.RESOLVED, _OPEN, _UNION, Status.RESOLVED, needs_note=True),
    "decline": Transition(EventKind.DECLINED, _OPEN, _UNION, Status.DECLINED, needs_note=True),
    "duplicate": Transition(EventKind.DUPLICATE, _OPEN, _UNION, Status.DECLINED),
    "reassign": Transition(EventKind.REASSIGNED, _OPEN, frozenset({Role.ADMIN, Role.CHAIR}),
                           None, public=False),
}
WORKER_TRANSITIONS: dict[str, Transition] = {
    "worker_reply": Transition(EventKind.WORKER_REPLY, _OPEN | {Status.RESOLVED}, frozenset(),
                               None, needs_note=True),
    "confirm": Transition(EventKind.CONFIRMED, frozenset({Status.RESOLVED}), frozenset(),
                          Status.CLOSED),
    "reopen": Transition(EventKind.REOPENED, frozenset({Status.RESOLVED}), frozenset(),
                         Status.IN_PROGRESS, needs_note=True),
    "rate": Transition(EventKind.RATED, frozenset({Status.RESOLVED, Status.CLOSED}),
                       frozenset(), None),
}


def officer_may(officer: Officer, action: str, request: ServiceRequest) -> bool:
    """Whether `officer` (already known to have `request` in scope) may take `action` now."""
    rule = TRANSITIONS.get(action)
    if rule is None or officer.role not in rule.roles or request.status not in rule.sources:
        return False
    if officer.role == Role.UPPER and request.level != Level.UPPER:
        return False  # the upper union acts on what was passed up to it
    if officer.role == Role.MANAGER and not request.referred:
        return False
    if action == "escalate":
        if request.level not in NEXT_LEVEL:
            return False
        if officer.role == Role.CADRE and request.level != Level.CADRE:
            return False
    if action == "refer" and request.referred:
        return False
    return True


def officer_actions(officer: Officer, request: ServiceRequest) -> list[str]:
    return [a for a in TRANSITIONS if officer_may(officer, a, request)]


def worker_actions(request: ServiceRequest) -> list[str]:
    actions = [a for a, rule in WORKER_TRANSITIONS.items() if request.status in rule.sources]
    if request.rating is not None and "rate" in actions:
        actions.remove("rate")
    return actions


@dataclass
class ActionInput:
    note: str = ""
    duplicate_of: int | None = None
    assignee: Officer | None = None
    rating: int | None = None
    client_id: uuid.UUID | None = None


def _seconds(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds()))


async def apply_officer_action(officer: Officer, request: ServiceRequest, action: str,
                               data: ActionInput, now: datetime | None = None) -> RequestEvent:
    if not officer_may(officer, action, request):
        raise RequestError(gettext("这条诉求现在不能做这个操作（可能已被别人处理），请刷新"))
    rule = TRANSITIONS[action]
    note = data.note.strip()[:MAX_NOTE]
    if rule.needs_note and not note:
        raise RequestError(gettext("请填写说明"))
    now = now or datetime.now(UTC)
    detail: dict[str, object] = {}
    async with transaction():
        # Re-read under a row lock and only move on from the status we checked, so two
        # officers pressing buttons at once cannot both win. (PostgreSQL locks the row;
        # SQLite has one writer at a time anyway, where select_for_update is a no-op.)
        fresh = await ServiceRequest.filter(id=request.id).select_for_update().get()
        if fresh.status != request.status or fresh.level != request.level:
            raise RequestError(gettext("这条诉求刚被别人处理过，请刷新后再看"))
        request = fresh
        updates: list[str] = []
        if request.status == Status.SUBMITTED and rule.target in {
                Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED}:
            _mark_acknowledged(request, now, updates)
            if action != "acknowledge":
                await _event(request, EventKind.ACKNOWLEDGED, actor=officer, now=now)
        if action == "acknowledge":
            request.level_due_at = request.resolve_due_at
            updates.append("level_due_at")
        elif action == "escalate":
            new_level = NEXT_LEVEL[Level(request.level)]
            detail = {"from": str(request.level), "to": str(new_level)}
            request.level = new_level
            request.level_due_at = deadlines.add_workdays(now, deadlines.LEVEL_WORKDAYS)
            updates += ["level", "level_due_at"]
        elif action == "refer":
            request.referred = True
            updates.append("referred")
        elif action == "resolve":
            request.resolved_at = now
            request.resolve_seconds = _seconds(request.created_at, now)
            request.resolved_on_time = now <= request.resolve_due_at
            request.resolution = note
            updates += ["resolved_at", "resolve_seconds", "resolved_on_time", "resolution"]
        elif action == "duplicate":
            other = await ServiceRequest.get_or_none(id=data.duplicate_of or 0,
                                                     project_id=request.project_id)  # type: ignore[attr-defined]
            if other is None or other.id == request.id:
                raise RequestError(gettext("请填写同一项目里另一条诉求的编号"))
            request.duplicate_of = other
            updates.append("duplicate_of_id")
            detail = {"duplicate_of": other.id}
        elif action == "reassign":
            cadre = data.assignee
            if cadre is None or cadre.role != Role.CADRE or (
                    cadre.union_id != request.project_id):  # type: ignore[attr-defined]
                raise RequestError(gettext("请选择本项目的一位工会干部"))
            detail = {"from": request.assignee_id, "to": cadre.id}  # type: ignore[attr-defined]
            request.assignee = cadre
            updates.append("assignee_id")
        if rule.target is not None and request.status != rule.target:
            request.status = rule.target
            updates.append("status")
        if updates:
            await request.save(update_fields=sorted(set(updates)))
        return await _event(request, rule.kind, actor=officer, public=rule.public, note=note,
                            detail=detail, now=now)


def _mark_acknowledged(request: ServiceRequest, now: datetime, updates: list[str]) -> None:
    request.acknowledged_at = now
    request.ack_seconds = _seconds(request.created_at, now)
    request.status = Status.ACKNOWLEDGED
    request.level_due_at = request.resolve_due_at
    updates += ["acknowledged_at", "ack_seconds", "status", "level_due_at"]


async def apply_worker_action(member: Member, request: ServiceRequest, action: str,
                              data: ActionInput, now: datetime | None = None) -> RequestEvent:
    """Reply, confirm, reopen or rate; idempotent by the form's client_id (offline outbox)."""
    if data.client_id is not None:
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is not None:
            if done.request_id != request.id:  # type: ignore[attr-defined]
                raise RequestError(gettext("表单编号无效，请刷新页面后重新提交"))
            return done
    rule = WORKER_TRANSITIONS.get(action)
    if rule is None or action not in worker_actions(request):
        raise RequestError(gettext("这条诉求现在不能做这个操作，请刷新"))
    note = data.note.strip()[:MAX_NOTE]
    if rule.needs_note and not note:
        raise RequestError(gettext("请写几句说明"))
    if action == "rate" and data.rating not in {1, 2, 3, 4, 5}:
        raise RequestError(gettext("请选择 1 到 5 星"))
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            fresh = await ServiceRequest.filter(id=request.id).select_for_update().get()
            if fresh.status != request.status:
                raise RequestError(gettext("这条诉求刚有变化，请刷新后再看"))
            request = fresh
            updates: list[str] = []
            if action == "reopen":
                request.resolved_at = None
                request.resolve_seconds = None
                request.resolved_on_time = None
                request.level_due_at = deadlines.add_workdays(now, deadlines.LEVEL_WORKDAYS)
                updates += ["resolved_at", "resolve_seconds", "resolved_on_time",
                            "level_due_at"]
            elif action == "confirm":
                request.closed_at = now
                updates.append("closed_at")
            elif action == "rate":
                request.rating = data.rating
                request.rating_comment = note[:300]
                updates += ["rating", "rating_comment"]
            if rule.target is not None:
                request.status = rule.target
                updates.append("status")
            if updates:
                await request.save(update_fields=updates)
            return await _event(request, rule.kind, by_worker=True, note=note,
                                detail={"rating": data.rating} if action == "rate" else {},
                                client_id=data.client_id, now=now)
    except IntegrityError:
        if data.client_id is None:
            raise
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is None:
            raise
        return done


async def mark_seen_by_worker(request: ServiceRequest) -> None:
    if request.worker_seen_event_id < request.last_public_event_id:
        await ServiceRequest.filter(id=request.id).update(
            worker_seen_event_id=request.last_public_event_id)
        request.worker_seen_event_id = request.last_public_event_id
