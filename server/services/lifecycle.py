"""The request lifecycle: every transition a request can take, who may take it, and the one
writer of request events.

Nothing else writes `RequestEvent` rows or moves a request's status: filing (single and
batched), officers' and workers' actions and the deadline job all come through here. That is
what lets later features hang off events (the inbox, push and SMS notifications are born
where an event is written) without chasing three code paths that drift apart.

The transitions are data (`TRANSITIONS`, `WORKER_TRANSITIONS`, `SYSTEM_TRANSITIONS`): which
statuses an action starts from, which roles may take it, the status it leads to, whether the
worker reads it and whether it needs a note.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from server.db import id_list, transaction
from server.errors import DomainError
from server.i18n import N_, gettext
from server.models import (
    EventKind,
    Level,
    Member,
    Officer,
    RequestEvent,
    Role,
    ServiceRequest,
    Status,
)
from server.models.requests import OPEN_STATUSES
from server.services import care, deadlines, inbox
from server.services import voice as voices
from server.services.voice import CleanVoice
from server.validation import Cleaner

MAX_NOTE = 2000
MAX_RATING_COMMENT = 300
NEXT_LEVEL = {Level.CADRE: Level.CHAIR, Level.CHAIR: Level.UPPER}


@dataclass(frozen=True)
class Transition:
    kind: EventKind
    sources: frozenset[Status]
    roles: frozenset[Role]
    target: Status | None = None
    public: bool = True
    needs_note: bool = False


OPEN = frozenset(OPEN_STATUSES)
_UNION = frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE, Role.UPPER})
_NOBODY: frozenset[Role] = frozenset()

TRANSITIONS: dict[str, Transition] = {
    "acknowledge": Transition(EventKind.ACKNOWLEDGED, frozenset({Status.SUBMITTED}), _UNION,
                              Status.ACKNOWLEDGED),
    "reply": Transition(EventKind.REPLY, OPEN, _UNION, Status.IN_PROGRESS, needs_note=True),
    "note": Transition(EventKind.NOTE, OPEN | {Status.RESOLVED}, _UNION, None, public=False,
                       needs_note=True),
    "escalate": Transition(EventKind.ESCALATED, OPEN,
                           frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE})),
    "refer": Transition(EventKind.REFERRED, OPEN, frozenset({Role.ADMIN, Role.CHAIR}),
                        Status.IN_PROGRESS),
    "management_reply": Transition(EventKind.MANAGEMENT_REPLY, OPEN,
                                   frozenset({Role.MANAGER, Role.ADMIN}), None,
                                   needs_note=True),
    "resolve": Transition(EventKind.RESOLVED, OPEN, _UNION, Status.RESOLVED, needs_note=True),
    "decline": Transition(EventKind.DECLINED, OPEN, _UNION, Status.DECLINED, needs_note=True),
    "duplicate": Transition(EventKind.DUPLICATE, OPEN, _UNION, Status.DECLINED),
    "reassign": Transition(EventKind.REASSIGNED, OPEN, frozenset({Role.ADMIN, Role.CHAIR}),
                           None, public=False),
}
WORKER_TRANSITIONS: dict[str, Transition] = {
    "worker_reply": Transition(EventKind.WORKER_REPLY, OPEN | {Status.RESOLVED}, _NOBODY,
                               None, needs_note=True),
    "confirm": Transition(EventKind.CONFIRMED, frozenset({Status.RESOLVED}), _NOBODY,
                          Status.CLOSED),
    "reopen": Transition(EventKind.REOPENED, frozenset({Status.RESOLVED}), _NOBODY,
                         Status.IN_PROGRESS, needs_note=True),
    "rate": Transition(EventKind.RATED, frozenset({Status.RESOLVED, Status.CLOSED}),
                       _NOBODY, None),
}
# Taken by the deadline job, on nobody's behalf.
SYSTEM_TRANSITIONS: dict[str, Transition] = {
    "auto_escalate": Transition(EventKind.AUTO_ESCALATED, OPEN, _NOBODY),
    "auto_close": Transition(EventKind.AUTO_CLOSED, frozenset({Status.RESOLVED}), _NOBODY,
                             Status.CLOSED),
    # Moves nothing: an internal event whose inbox item reminds the assignee.
    "due_soon": Transition(EventKind.DUE_SOON, OPEN, _NOBODY, public=False),
}
# Namespace of the due-soon reminders' keys (see `due_soon_key`).
_DUE_SOON_KEYS = uuid.uuid5(uuid.NAMESPACE_URL, "https://lianxin.invalid/due-soon")
SUBMITTED = Transition(EventKind.SUBMITTED, frozenset(), _NOBODY, Status.SUBMITTED)
# Actions that may be said aloud: a voice message stands in for their note.
VOICE_ACTIONS = frozenset({"reply", "worker_reply"})
# Public officer events that are not contact with the worker (the duty of care): reading
# a request is not talking to its worker.
NOT_CONTACT = frozenset({EventKind.VIEWED})
# Who opening a request counts as "干部已查看": the union side that may act on it. Never
# management (the worker must not read a manager's glance as the union's), nor the admin.
VIEWER_ROLES = frozenset({Role.CADRE, Role.CHAIR, Role.UPPER})
_VIEWED_KEYS = uuid.uuid5(uuid.NAMESPACE_URL, "https://lianxin.invalid/viewed")


# --- the one writer of events -----------------------------------------------------------------

async def record_event(request: ServiceRequest, kind: EventKind, *,
                       actor: Officer | None = None, by_worker: bool = False,
                       public: bool = True, note: str = "",
                       detail: dict[str, object] | None = None,
                       client_id: uuid.UUID | None = None, now: datetime | None = None,
                       conn: BaseDBAsyncClient | None = None) -> RequestEvent:
    """Write one event and move the request's event pointers with it (the unread badge reads
    them). Call inside the transaction that changed the request."""
    event = await RequestEvent.create(request_id=request.id, kind=kind, actor=actor,
                                      by_worker=by_worker, public=public, note=note,
                                      detail=detail or {}, client_id=client_id,
                                      created_at=now or datetime.now(UTC), using_db=conn)
    updates: dict[str, int] = {"last_event_id": event.id}
    if public and (by_worker or kind in inbox.WORKER_REASONS):
        # News for the worker: an answer they can read ("新回复"), or their own words. An
        # escalation or a referral is on their timeline but gives them nothing to read.
        updates["last_public_event_id"] = event.id
    if by_worker:
        # What the worker wrote is not an unread reply for them.
        updates["worker_seen_event_id"] = event.id
    query = ServiceRequest.filter(id=request.id)
    if conn is not None:
        query = query.using_db(conn)
    await query.update(**updates)
    for name, value in updates.items():
        setattr(request, name, value)
    await inbox.add_items(request, event, conn)
    if by_worker or (actor is not None and public and kind not in NOT_CONTACT):
        # The worker wrote, or an officer did something the worker sees: they were in touch
        # (the duty of care). An internal note or a hand-over is not contact.
        await care.note_contact(request.member_id,  # type: ignore[attr-defined]
                                event.created_at,
                                project_id=request.project_id,  # type: ignore[attr-defined]
                                conn=conn)
    return event


async def record_submitted(conn: BaseDBAsyncClient, request_ids: Sequence[int],
                           member_id: int) -> None:
    """The filing event of each request just inserted by a batch: what `record_event` writes
    for one, written by the database from the rows themselves (two statements however many
    rows; `bench/sync_batch.py` measures why). The event carries the request's client_id, so
    a concurrent flush that inserted the same rows cannot add a second one."""
    if not request_ids:
        return
    ids = id_list(request_ids)
    await conn.execute_query(
        "INSERT INTO request_event (request_id, kind, actor_id, by_worker, public, "  # noqa: S608
        "note, detail, client_id, created_at) "
        f"SELECT id, '{SUBMITTED.kind.value}', NULL, TRUE, TRUE, '', '{{}}', "
        f"client_id, created_at FROM service_request WHERE id IN ({ids}) "
        f"AND member_id = {int(member_id)} AND last_event_id = 0 "
        "ON CONFLICT DO NOTHING")
    newest = ("(SELECT MAX(e.id) FROM request_event e "
              "WHERE e.request_id = service_request.id)")
    await conn.execute_query(
        f"UPDATE service_request SET last_event_id = {newest}, "  # noqa: S608
        f"last_public_event_id = {newest}, worker_seen_event_id = {newest} "
        f"WHERE id IN ({ids}) AND last_event_id = 0")
    await inbox.add_filed_items(conn, request_ids)
    await care.note_contact(member_id, datetime.now(UTC), conn=conn)


async def record_filed(request: ServiceRequest, now: datetime,
                       voice: CleanVoice | None = None) -> RequestEvent:
    """The filing event of a request filed alone; the same row `record_submitted` writes,
    with the voice message the worker recorded instead of (or beside) typing."""
    event = await record_event(request, SUBMITTED.kind, by_worker=True,
                               public=SUBMITTED.public, client_id=request.client_id, now=now)
    if voice is not None:
        await voices.store(request.id, event.id, voice)
    return event


# --- who may do what ------------------------------------------------------------------------

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
        if escalation_level(officer, request) is None:
            return False
        if officer.role == Role.CADRE and request.level != Level.CADRE:
            return False
    if action == "refer" and request.referred:
        return False
    return True


def escalation_level(officer: Officer, request: ServiceRequest) -> Level | None:
    """Where 上报 sends a request: the level above the request's, and above the officer
    pressing it, so a chair who escalates a request still at cadre level sends it to the
    upper union, not to himself. None when there is nowhere higher."""
    level = Level(request.level)
    if officer.role == Role.CHAIR and level == Level.CADRE:
        level = Level.CHAIR
    return NEXT_LEVEL.get(level)


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
    assignee_id: int | None = None
    rating: int | None = None
    rating_comment: str = ""
    client_id: uuid.UUID | None = None
    voice: CleanVoice | None = None


def _voice_for(action: str, data: ActionInput) -> CleanVoice | None:
    return data.voice if action in VOICE_ACTIONS else None


def _needs_words(action: str, worker: bool) -> DomainError:
    if action in VOICE_ACTIONS:
        return DomainError(gettext("请写几句话，或者录一段语音"), field="note")
    return DomainError(gettext("请写几句说明") if worker else gettext("请填写说明"),
                       field="note")


def clean_note(data: Mapping[str, object]) -> tuple[str, str]:
    """The note of an officer's or a worker's action form, and the error to show ("" if
    none): line breaks kept, other control characters refused, at most MAX_NOTE."""
    c = Cleaner(data)
    note = c.text("note", required=False, max_length=MAX_NOTE, label=N_("说明"),
                  multiline=True)
    return note, "; ".join(c.errors.values())


def _seconds(since: datetime, now: datetime) -> int:
    return max(0, int((now - since).total_seconds()))


def _refused_now() -> DomainError:
    return DomainError(gettext("这条诉求现在不能做这个操作（可能已被别人处理），请刷新"),
                       status=409)


# --- officers -------------------------------------------------------------------------------

async def apply_officer_action(officer: Officer, request: ServiceRequest, action: str,
                               data: ActionInput, now: datetime | None = None) -> RequestEvent:
    if not officer_may(officer, action, request):
        raise _refused_now()
    rule = TRANSITIONS[action]
    note = data.note.strip()[:MAX_NOTE]
    voice = _voice_for(action, data)
    if rule.needs_note and not note and voice is None:
        raise _needs_words(action, worker=False)
    now = now or datetime.now(UTC)
    detail: dict[str, object] = {}
    assignee: Officer | None = None
    if action == "reassign":
        # Only an active cadre of the request's own project: the scope check lives here,
        # not in the form that offered the choice.
        assignee = await Officer.get_or_none(
            id=data.assignee_id or 0, role=Role.CADRE, active=True,
            union_id=request.project_id)  # type: ignore[attr-defined]
        if assignee is None:
            raise DomainError(gettext("请选择本项目的一位工会干部"), field="assignee")
    async with transaction():
        # Re-read under a row lock and only move on from the status we checked, so two
        # officers pressing buttons at once cannot both win. (PostgreSQL locks the row;
        # SQLite has one writer at a time anyway, where select_for_update is a no-op.)
        fresh = await ServiceRequest.filter(id=request.id).select_for_update().get()
        if fresh.status != request.status or fresh.level != request.level:
            raise DomainError(gettext("这条诉求刚被别人处理过，请刷新后再看"), status=409)
        request = fresh
        updates: list[str] = []
        if request.status == Status.SUBMITTED and rule.target in {
                Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.RESOLVED}:
            _mark_acknowledged(request, now, updates)
            if action != "acknowledge":
                await record_event(request, EventKind.ACKNOWLEDGED, actor=officer, now=now)
        if action == "acknowledge":
            request.level_due_at = request.resolve_due_at
            updates.append("level_due_at")
        elif action == "escalate":
            new_level = escalation_level(officer, request)
            if new_level is None:
                raise _refused_now()
            detail = {"from": str(request.level), "to": str(new_level)}
            request.level = new_level
            request.level_due_at = deadlines.next_level_due(now, request.urgency)
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
                raise DomainError(gettext("请填写同一项目里另一条诉求的编号"),
                                  field="duplicate_of")
            request.duplicate_of = other
            updates.append("duplicate_of_id")
            detail = {"duplicate_of": other.id}
        elif action == "reassign":
            assert assignee is not None
            detail = {"from": request.assignee_id,  # type: ignore[attr-defined]
                      "to": assignee.id}
            request.assignee = assignee
            updates.append("assignee_id")
        if rule.target is not None and request.status != rule.target:
            request.status = rule.target
            updates.append("status")
        if updates:
            await request.save(update_fields=sorted(set(updates)))
        event = await record_event(request, rule.kind, actor=officer, public=rule.public,
                                   note=note, detail=detail, now=now)
        if voice is not None:
            await voices.store(request.id, event.id, voice)
        return event


def _mark_acknowledged(request: ServiceRequest, now: datetime, updates: list[str]) -> None:
    request.acknowledged_at = now
    request.ack_seconds = _seconds(request.created_at, now)
    request.status = Status.ACKNOWLEDGED
    request.level_due_at = request.resolve_due_at
    updates += ["acknowledged_at", "ack_seconds", "status", "level_due_at"]


def counts_as_viewed(officer: Officer, request: ServiceRequest) -> bool:
    """Whether `officer` opening `request` (already in their scope) is "干部已查看": a union
    officer who may act on it now, while it is open."""
    return (officer.role in VIEWER_ROLES and request.status in OPEN
            and bool(officer_actions(officer, request)))


async def record_viewed(officer: Officer, request: ServiceRequest,
                        now: datetime | None = None) -> bool:
    """The first opening by a union officer who may act on it: `viewed_at` and one public
    `viewed` event, once however many openings arrive at the same moment. The conditional
    UPDATE claims it (PostgreSQL re-checks `viewed_at IS NULL` after waiting for the row
    lock; SQLite has one writer); the event's client_id, one per request, is UNIQUE as a
    second guard. Returns whether this opening was the first."""
    if request.viewed_at is not None or not counts_as_viewed(officer, request):
        return False
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            claimed = await ServiceRequest.filter(id=request.id, viewed_at__isnull=True).update(
                viewed_at=now)
            if not claimed:
                return False
            await record_event(request, EventKind.VIEWED, actor=officer, public=True,
                               client_id=uuid.uuid5(_VIEWED_KEYS, str(request.id)), now=now)
    except IntegrityError:
        return False
    request.viewed_at = now
    return True


# --- workers --------------------------------------------------------------------------------

def _replay_of(done: RequestEvent, request: ServiceRequest, rule: Transition,
               note: str) -> RequestEvent:
    """A client_id seen before answers as the first time did, but only for the same request
    and the same content: an idempotency key is not a credential."""
    if (done.request_id != request.id  # type: ignore[attr-defined]
            or done.kind != rule.kind or done.note != note):
        raise DomainError(gettext("表单编号无效，请刷新页面后重新提交"), status=409)
    return done


async def apply_worker_action(member: Member, request: ServiceRequest, action: str,
                              data: ActionInput, now: datetime | None = None) -> RequestEvent:
    """Reply, confirm, reopen or rate; idempotent by the form's client_id (offline outbox)."""
    if request.member_id != member.id:  # type: ignore[attr-defined]
        raise DomainError(gettext("找不到这条诉求"), status=404)
    rule = WORKER_TRANSITIONS.get(action)
    if rule is None:
        raise DomainError(gettext("这条诉求现在不能做这个操作，请刷新"), status=404)
    note = data.note.strip()[:MAX_NOTE]
    if action == "rate":
        note = note[:MAX_RATING_COMMENT]
    if data.client_id is not None:
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is not None:
            return _replay_of(done, request, rule, note)
    if action not in worker_actions(request):
        raise DomainError(gettext("这条诉求现在不能做这个操作，请刷新"), status=409)
    voice = _voice_for(action, data)
    if rule.needs_note and not note and voice is None:
        raise _needs_words(action, worker=True)
    if action == "rate" and data.rating not in {1, 2, 3, 4, 5}:
        raise DomainError(rating_missing_message(), field="rating")
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            fresh = await ServiceRequest.filter(id=request.id).select_for_update().get()
            if fresh.status != request.status:
                raise DomainError(gettext("这条诉求刚有变化，请刷新后再看"), status=409)
            request = fresh
            updates: list[str] = []
            if action == "reopen":
                request.resolved_at = None
                request.resolve_seconds = None
                request.resolved_on_time = None
                request.level_due_at = deadlines.next_level_due(now, request.urgency)
                updates += ["resolved_at", "resolve_seconds", "resolved_on_time",
                            "level_due_at"]
            elif action == "confirm":
                request.closed_at = now
                updates.append("closed_at")
            elif action == "rate":
                request.rating = data.rating
                request.rating_comment = note
                updates += ["rating", "rating_comment"]
            if rule.target is not None:
                request.status = rule.target
                updates.append("status")
            if updates:
                await request.save(update_fields=updates)
            event = await record_event(request, rule.kind, by_worker=True, note=note,
                                       detail={"rating": data.rating} if action == "rate"
                                       else {}, client_id=data.client_id, now=now)
            if voice is not None:
                await voices.store(request.id, event.id, voice)
            return event
    except IntegrityError:
        if data.client_id is None:
            raise
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is None:
            raise
        return _replay_of(done, request, rule, note)


def rating_missing_message() -> str:
    return gettext("请先点星星给工会的办理打分（1 到 5 星），再提交")


async def confirm_and_rate(member: Member, request: ServiceRequest, data: ActionInput,
                           now: datetime | None = None) -> RequestEvent:
    """"Resolved, thank you": confirm and rate in the same tap. The form starts with no
    star chosen (a rating the worker did not give is no rating), so one is asked for here.
    The rating is its own event (and its own key: a replay of the form rates once)."""
    replay = data.client_id is not None and await RequestEvent.exists(client_id=data.client_id)
    if data.rating not in {1, 2, 3, 4, 5} and not replay and "confirm" in worker_actions(request):
        raise DomainError(rating_missing_message(), field="rating")
    event = await apply_worker_action(member, request, "confirm", ActionInput(
        note=data.note, client_id=data.client_id), now)
    if data.rating:
        fresh = await ServiceRequest.get(id=request.id)
        if "rate" in worker_actions(fresh):
            rate_key = uuid.uuid5(data.client_id, "rate") if data.client_id else None
            await apply_worker_action(member, fresh, "rate", ActionInput(
                note=data.rating_comment, rating=data.rating, client_id=rate_key), now)
    return event


async def events_of(request: ServiceRequest) -> list[RequestEvent]:
    """Every event of a request, oldest first, with its actor: what a timeline is made of.
    Who may read which of them is `server.privacy`'s decision."""
    return await RequestEvent.filter(request_id=request.id).order_by("id").select_related(
        "actor")


async def last_answer_times(requests: Sequence[ServiceRequest]) -> dict[int, datetime]:
    """When each request last had news for its worker from the union (their own filing or
    words are not news), for the "my requests" list."""
    rows = await RequestEvent.filter(
        id__in=[r.last_public_event_id for r in requests if r.last_public_event_id],
        by_worker=False).values_list("request_id", "created_at")
    return {int(request_id): created for request_id, created in rows}


async def mark_seen_by_worker(request: ServiceRequest) -> None:
    """The worker has the request open: everything on it so far is seen (internal events
    included, which they never see: nothing older can count as new for them later)."""
    await inbox.mark_request_read(request.id,
                                  member_id=request.member_id)  # type: ignore[attr-defined]
    newest = max(request.last_event_id, request.last_public_event_id)
    if request.worker_seen_event_id < newest:
        await ServiceRequest.filter(id=request.id, worker_seen_event_id__lt=newest).update(
            worker_seen_event_id=newest)
        request.worker_seen_event_id = newest


# --- the deadline job -----------------------------------------------------------------------

async def apply_system_transition(request: ServiceRequest, action: str,
                                  now: datetime) -> bool:
    """Take a deadline-job transition on `request` as it was read, if nobody moved it since.

    Safe with several processes running the job: the conditional UPDATE only matches the
    state that was read, so of two runs racing for one row exactly one writes the event.
    """
    rule = SYSTEM_TRANSITIONS[action]
    if action == "due_soon":
        return await _remind_due_soon(request, rule, now)
    async with transaction():
        query = ServiceRequest.filter(id=request.id, status__in=list(rule.sources))
        detail: dict[str, object] = {}
        if action == "auto_escalate":
            new_level = NEXT_LEVEL[Level(request.level)]
            claimed = await query.filter(level=request.level, level_due_at__lt=now).update(
                level=new_level,
                level_due_at=deadlines.next_level_due(now, request.urgency))
            detail = {"from": str(request.level), "to": str(new_level),
                      "due": request.level_due_at.isoformat()}
        else:
            assert rule.target is not None
            claimed = await query.update(status=rule.target, closed_at=now)
        if not claimed:
            return False  # another process (or an officer) moved it first
        await record_event(request, rule.kind, public=rule.public, detail=detail, now=now)
    return True


def due_soon_key(request: ServiceRequest) -> uuid.UUID:
    """The reminder's idempotency key: one per request and deadline. It is the event's
    client_id, UNIQUE in the table, so two job runs racing cannot both remind."""
    due = int(request.level_due_at.timestamp())
    return uuid.uuid5(_DUE_SOON_KEYS, f"{request.id}:{due}")


async def _remind_due_soon(request: ServiceRequest, rule: Transition, now: datetime) -> bool:
    try:
        async with transaction():
            # Only while the request still waits on the same deadline at the same level.
            still = await ServiceRequest.filter(
                id=request.id, status__in=list(rule.sources), level=request.level,
                level_due_at=request.level_due_at, assignee_id=request.assignee_id,  # type: ignore[attr-defined]
            ).exists()
            if not still:
                return False
            await record_event(request, rule.kind, public=rule.public,
                               detail={"due": request.level_due_at.isoformat()},
                               client_id=due_soon_key(request), now=now)
    except IntegrityError:
        return False  # another run reminded first: the key is taken
    return True
