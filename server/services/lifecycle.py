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
from tortoise.expressions import Q

from server.db import id_list, transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.models import (
    Category,
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
from server.services import care, deadlines, inbox, wages
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
    # The status a duplicate takes is its master's (see `follower_status`), never 不予受理.
    "duplicate": Transition(EventKind.DUPLICATE, OPEN, _UNION, None),
    "reassign": Transition(EventKind.REASSIGNED, OPEN, frozenset({Role.ADMIN, Role.CHAIR}),
                           None, public=False),
    # Wage-case milestones (wage requests only), each with its amounts; the worker reads
    # them. 已支付 resolves the case like 办结.
    "wage_verify": Transition(EventKind.WAGE_VERIFIED, OPEN, _UNION, Status.IN_PROGRESS),
    "wage_promise": Transition(EventKind.WAGE_PROMISED, OPEN, _UNION, Status.IN_PROGRESS),
    "wage_partial": Transition(EventKind.WAGE_PARTIAL, OPEN, _UNION, Status.IN_PROGRESS),
    "wage_paid": Transition(EventKind.WAGE_PAID, OPEN, _UNION, Status.RESOLVED),
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
# What a duplicate copies from its master: the union's public answers and its status moves,
# never the master's worker's words (their filing, follow-ups, rating) nor internal events.
MIRRORED = frozenset({EventKind.ACKNOWLEDGED, EventKind.REPLY, EventKind.MANAGEMENT_REPLY,
                      EventKind.RESOLVED, EventKind.DECLINED})
# Namespace of the keys of mirrored events: one per (master's event, follower), UNIQUE.
_MIRROR_KEYS = uuid.uuid5(uuid.NAMESPACE_URL, "https://lianxin.invalid/mirror")
_RANK = {Status.SUBMITTED: 0, Status.ACKNOWLEDGED: 1, Status.IN_PROGRESS: 2,
         Status.RESOLVED: 3}
# Actions that may be said aloud: a voice message stands in for their note.
VOICE_ACTIONS = frozenset({"reply", "worker_reply"})
# Public officer events that are not contact with the worker (the duty of care): reading
# a request is not talking to its worker.
NOT_CONTACT = frozenset({EventKind.VIEWED, EventKind.HANDED_OVER})
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
                       conn: BaseDBAsyncClient | None = None,
                       notify: bool = True) -> RequestEvent:
    """Write one event and move the request's event pointers with it (the unread badge reads
    them). Call inside the transaction that changed the request. An answer the worker reads
    is copied to the requests merged into this one (`_mirror`), in the same transaction, with
    their inbox items and pushes; `notify=False` writes no inbox item (a catch-up copy)."""
    event = await RequestEvent.create(request_id=request.id, kind=kind, actor=actor,
                                      by_worker=by_worker, public=public, note=note,
                                      detail=detail or {}, client_id=client_id,
                                      created_at=now or datetime.now(UTC), using_db=conn)
    updates: dict[str, int] = {"last_event_id": event.id}
    if public and (by_worker or inbox.worker_reason(kind, detail)):
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
    if notify:
        await inbox.add_items(request, event, conn)
    if by_worker or (actor is not None and public and kind not in NOT_CONTACT):
        # The worker wrote, or an officer did something the worker sees: they were in touch
        # (the duty of care). An internal note or a hand-over (shown to the worker, but
        # nobody spoke to them) is not contact.
        await care.note_contact(request.member_id,  # type: ignore[attr-defined]
                                event.created_at,
                                project_id=request.project_id,  # type: ignore[attr-defined]
                                conn=conn)
    if _mirrors(event):
        await _mirror(request, event, conn)
    return event


def _mirrors(event: RequestEvent) -> bool:
    return (event.public and not event.by_worker and event.kind in MIRRORED
            and "master_event" not in event.detail)


def follower_status(own: Status, master: Status) -> Status:
    """Where a duplicate stands when its master is at `master`: as far along as either, and
    resolved (waiting for its own worker's confirmation) once the master is resolved or
    closed. Never closed by the master: each worker confirms for themself."""
    target = Status.RESOLVED if master == Status.CLOSED else master
    if target == Status.DECLINED:
        return Status.DECLINED
    if own not in _RANK or target not in _RANK:
        return own
    return target if _RANK[target] > _RANK[own] else own


async def _mirror(master: ServiceRequest, event: RequestEvent,
                  conn: BaseDBAsyncClient | None, *, notify: bool = True,
                  only: int | None = None) -> None:
    """Copy one of the master's public answers to its followers (or to follower `only`),
    moving their status with it. Each copy is keyed by (event, follower): written once."""
    query = ServiceRequest.filter(
        duplicate_of_id=master.id,
        status__in=[*OPEN_STATUSES, Status.RESOLVED])
    if only is not None:
        query = query.filter(id=only)
    followers = await (query.using_db(conn) if conn is not None else query)
    now = event.created_at
    for follower in followers:
        if event.kind == EventKind.ACKNOWLEDGED and follower.status != Status.SUBMITTED:
            continue  # it was taken up already (marking it a duplicate did that)
        target = {EventKind.ACKNOWLEDGED: Status.ACKNOWLEDGED,
                  EventKind.REPLY: Status.IN_PROGRESS, EventKind.RESOLVED: Status.RESOLVED,
                  EventKind.DECLINED: Status.DECLINED}.get(EventKind(event.kind))
        updates: list[str] = []
        if target is not None:
            new = follower_status(Status(follower.status), target)
            if new == Status.DECLINED and follower.status not in OPEN_STATUSES:
                new = Status(follower.status)  # resolved for its worker: that stands
            _move_to(follower, new, now, updates)
        if event.kind == EventKind.RESOLVED and follower.status == Status.RESOLVED:
            follower.resolution = event.note
            updates.append("resolution")
        if updates:
            await follower.save(update_fields=sorted(set(updates)), using_db=conn)
        await record_event(
            follower, EventKind(event.kind), actor=event.actor, public=True,
            note=event.note, detail={"master": master.id, "master_event": event.id},
            client_id=uuid.uuid5(_MIRROR_KEYS, f"{event.id}:{follower.id}"), now=now,
            conn=conn, notify=notify)


def _move_to(request: ServiceRequest, status: Status, now: datetime,
             updates: list[str]) -> None:
    """Set a duplicate's status and the times that go with reaching it."""
    if status == request.status:
        return
    if request.acknowledged_at is None and status != Status.SUBMITTED:
        request.acknowledged_at = now
        request.ack_seconds = _seconds(request.created_at, now)
        updates += ["acknowledged_at", "ack_seconds"]
    if status == Status.RESOLVED:
        request.resolved_at = now
        request.resolve_seconds = _seconds(request.created_at, now)
        request.resolved_on_time = now <= request.resolve_due_at
        updates += ["resolved_at", "resolve_seconds", "resolved_on_time"]
    request.status = status
    updates.append("status")


async def duplicate_target(request_id: int, project_id: int) -> int | None:
    """The request a duplicate of `request_id` would follow: it, or its own master (a chain
    is never made: the first request is where the union answers). None if there is no such
    request in the project."""
    row = await ServiceRequest.filter(id=request_id, project_id=project_id).values_list(
        "id", "duplicate_of_id")
    if not row:
        return None
    own_id, master_id = row[0]
    return int(master_id) if master_id is not None else int(own_id)


def _no_target() -> DomainError:
    return DomainError(gettext("请填写同一项目里另一条诉求的编号"), field="duplicate_of")


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
                       voice: CleanVoice | None = None, *,
                       on_behalf_by: Officer | None = None) -> RequestEvent:
    """The filing event of a request filed alone; the same row `record_submitted` writes,
    with the voice message the worker recorded instead of (or beside) typing. Filed by a
    cadre for the worker, the event is the cadre's, and says how they heard it."""
    if on_behalf_by is not None:
        event = await record_event(
            request, SUBMITTED.kind, actor=on_behalf_by, public=SUBMITTED.public,
            detail={"on_behalf": str(request.on_behalf_channel), "consent": True},
            client_id=request.client_id, now=now)
    else:
        event = await record_event(request, SUBMITTED.kind, by_worker=True,
                                   public=SUBMITTED.public, client_id=request.client_id,
                                   now=now)
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
    if action == "duplicate" and request.duplicate_of_id is not None:  # type: ignore[attr-defined]
        return False  # it follows one already: unlink first
    if action in wages.MILESTONES and request.category != Category.WAGES:
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
    # The requests the acting officer may open (`access.request_scope`): a duplicate's master
    # must be one of them, so only an officer who may act on both links them.
    master_scope: Q | None = None
    # The request's last_event_id as the officer saw it when pressing the button (the
    # panel's form carries it; an outbox item may arrive hours later): what changed since
    # decides whether the action still means what the officer meant (`conflict_of`).
    seen: int | None = None
    # A wage milestone's amount and promised date (wages.clean_milestone).
    wage: wages.MilestoneInput | None = None


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

class Conflict(DomainError):
    """A queued (or long-open) officer action that the request's news since `seen` makes
    doubtful: not applied, answered 409 with what changed, for the officer to decide."""

    def __init__(self, message: str, request: ServiceRequest, since: list[RequestEvent],
                 may_retry: bool) -> None:
        super().__init__(message, status=409)
        self.request = request
        self.since = since
        self.may_retry = may_retry


@dataclass(frozen=True)
class Applied:
    """What an officer's action came to: the event written (None when there was nothing
    left to do, an acknowledgement someone else gave), and whether this call wrote it (a
    replayed client_id answers with the first call's event and False)."""

    event: RequestEvent | None
    created: bool


# Events by someone else that move a request on: after one of them, an action decided
# before it may no longer be what the officer would do (a worker's words they have not
# read, a change of hands, a status or level moved).
_MOVES_ON = frozenset({
    EventKind.WORKER_REPLY, EventKind.REOPENED, EventKind.CONFIRMED, EventKind.RESOLVED,
    EventKind.DECLINED, EventKind.DUPLICATE, EventKind.AUTO_CLOSED, EventKind.ESCALATED,
    EventKind.AUTO_ESCALATED, EventKind.REASSIGNED, EventKind.HANDED_OVER})
# What still conflicts with a reply: the reply is words to the worker, so another
# officer's status change does not make it wrong; unread words from the worker, or the
# request given to someone else, do.
_REPLY_CONFLICTS = frozenset({
    EventKind.WORKER_REPLY, EventKind.REOPENED, EventKind.CONFIRMED, EventKind.REASSIGNED,
    EventKind.HANDED_OVER})
# A reply that reaches a request resolved meanwhile is still said, without reopening it.
_REPLY_LATE = frozenset({Status.RESOLVED})


def _conflict_reason(officer: Officer, request: ServiceRequest, action: str,
                     since: Sequence[RequestEvent]) -> str:
    """Why `action`, decided before `since` happened, must not go ahead ("" if it may).
    A note never conflicts (it is for the union's own record)."""
    if action == "note":
        return ""
    theirs = [e for e in since if e.actor_id != officer.id]  # type: ignore[attr-defined]
    kinds = {e.kind for e in theirs}
    if kinds & {EventKind.WORKER_REPLY, EventKind.REOPENED, EventKind.CONFIRMED}:
        return gettext("工友在这之后又有了新消息，你还没看到")
    if kinds & {EventKind.REASSIGNED, EventKind.HANDED_OVER} and (
            request.assignee_id != officer.id):  # type: ignore[attr-defined]
        return gettext("这条诉求已经换给别的干部负责")
    if action == "reply":
        return ""
    if kinds & _MOVES_ON:
        return gettext("这条诉求在这之后已被别人处理")
    return ""


def _late_reply(action: str, request: ServiceRequest, data: ActionInput) -> bool:
    return action == "reply" and data.seen is not None and request.status in _REPLY_LATE


async def _events_since(request_id: int, seen: int,
                        conn: BaseDBAsyncClient | None = None) -> list[RequestEvent]:
    query = RequestEvent.filter(request_id=request_id, id__gt=seen).order_by("id")
    if conn is not None:
        query = query.using_db(conn)
    return list(await query)


async def _check_queued(officer: Officer, request: ServiceRequest, action: str,
                        data: ActionInput) -> Applied | None:
    """The outbox's part of an officer action, against the request as it is now: a
    client_id already used answers as the first time did; a change since `seen` that makes
    the action doubtful raises Conflict. Returns what to answer without acting, or None
    to go ahead."""
    if data.client_id is not None:
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is not None:
            rule = TRANSITIONS[action]
            return Applied(_replay_of(done, request, rule, data.note.strip()[:MAX_NOTE]), False)
    if data.seen is None:
        return None
    since = await _events_since(request.id, data.seen)
    if action == "acknowledge" and request.status in OPEN and request.status != Status.SUBMITTED:
        reason = _conflict_reason(officer, request, action, since)
        if not reason:
            return Applied(None, False)  # already acknowledged: what was wanted is done
        raise Conflict(reason, request, since, may_retry=False)
    allowed = officer_may(officer, action, request) or _late_reply(action, request, data)
    reason = _conflict_reason(officer, request, action, since)
    if not allowed:
        raise Conflict(reason or gettext("这条诉求现在不能做这个操作"), request, since,
                       may_retry=False)
    if reason:
        raise Conflict(reason, request, since, may_retry=True)
    return None


async def apply_officer_action(officer: Officer, request: ServiceRequest, action: str,
                               data: ActionInput, now: datetime | None = None) -> RequestEvent:
    applied = await apply_officer_action_once(officer, request, action, data, now)
    if applied.event is None:
        raise _refused_now()
    return applied.event


async def apply_officer_action_once(officer: Officer, request: ServiceRequest, action: str,
                                    data: ActionInput,
                                    now: datetime | None = None) -> Applied:
    """An officer's action, exactly once by `data.client_id` (the outbox may send it many
    times) and checked against what happened since `data.seen` (see `_check_queued`)."""
    early = await _check_queued(officer, request, action, data)
    if early is not None:
        return early
    late_reply = _late_reply(action, request, data)
    if not officer_may(officer, action, request) and not late_reply:
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
    try:
        return await _officer_write(officer, request, action, rule, data, note, voice, detail,
                                    assignee, late_reply, now)
    except IntegrityError:
        # Two sends of one queued item raced past the first check: the other one wrote it.
        if data.client_id is None:
            raise
        done = await RequestEvent.get_or_none(client_id=data.client_id)
        if done is None:
            raise
        return Applied(_replay_of(done, request, rule, note), False)


async def _officer_write(officer: Officer, request: ServiceRequest, action: str,
                         rule: Transition, data: ActionInput, note: str,
                         voice: CleanVoice | None, detail: dict[str, object],
                         assignee: Officer | None, late_reply: bool,
                         now: datetime) -> Applied:
    async with transaction() as conn:
        # Re-read under a row lock and only move on from the status we checked, so two
        # officers pressing buttons at once cannot both win. (PostgreSQL locks the row;
        # SQLite has one writer at a time anyway, where select_for_update is a no-op.)
        fresh = await ServiceRequest.filter(id=request.id).using_db(conn).select_for_update(
            ).get()
        if data.client_id is not None:
            # Waited for the lock behind a send of the same item: answer as it did.
            done = await RequestEvent.get_or_none(client_id=data.client_id, using_db=conn)
            if done is not None:
                return Applied(_replay_of(done, request, rule, note), False)
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
            request.level_due_at = deadlines.next_level_due(request.category, now, request.urgency)
            updates += ["level", "level_due_at"]
        elif action == "refer":
            request.referred = True
            updates.append("referred")
        elif action in wages.MILESTONES:
            detail = wages.apply_milestone(request, action,
                                           data.wage or wages.MilestoneInput(), updates)
        if action in ("resolve", "wage_paid"):
            request.resolved_at = now
            request.resolve_seconds = _seconds(request.created_at, now)
            request.resolved_on_time = now <= request.resolve_due_at
            request.resolution = note
            updates += ["resolved_at", "resolve_seconds", "resolved_on_time", "resolution"]
        if action == "duplicate":
            other = await _master_for(request, data.duplicate_of, data.master_scope)
            request.duplicate_of = other
            updates.append("duplicate_of_id")
            detail = {"duplicate_of": other.id}
            _move_to(request, follower_status(Status(request.status), Status(other.status)),
                     now, updates)
            if request.status == Status.RESOLVED:
                request.resolution = other.resolution
                updates.append("resolution")
        elif action == "reassign":
            assert assignee is not None
            detail = {"from": request.assignee_id,  # type: ignore[attr-defined]
                      "to": assignee.id}
            request.assignee = assignee
            updates.append("assignee_id")
        if rule.target is not None and request.status != rule.target and not late_reply:
            request.status = rule.target
            updates.append("status")
        if updates:
            await request.save(update_fields=sorted(set(updates)), using_db=conn)
        event = await record_event(request, rule.kind, actor=officer, public=rule.public,
                                   note=note, detail=detail, client_id=data.client_id,
                                   now=now, conn=conn)
        if voice is not None:
            await voices.store(request.id, event.id, voice)
        if action == "duplicate":
            await _link(officer, request, now)
        return Applied(event, True)


async def _master_for(request: ServiceRequest, wanted: int | None,
                      scope: Q | None) -> ServiceRequest:
    """The master a duplicate may follow: in the same project and the officer's scope, not
    itself, not declined; a request with followers of its own cannot become a follower (no
    chains)."""
    target = await duplicate_target(wanted or 0, request.project_id)  # type: ignore[attr-defined]
    if target is None or target == request.id:
        raise _no_target()
    if scope is not None and not await ServiceRequest.filter(scope, id=target).exists():
        raise _no_target()  # as if it did not exist: outside the officer's scope
    if await ServiceRequest.filter(duplicate_of_id=request.id).exists():
        raise DomainError(gettext(
            "已有别的诉求合并到这一条，它不能再合并到别处；可以反过来把那一条合并到这里"),
            field="duplicate_of")
    other = await ServiceRequest.get(id=target)
    if other.status == Status.DECLINED:
        raise DomainError(gettext("那条诉求已不予受理，不能合并过去"), field="duplicate_of")
    return other


async def _link(officer: Officer, follower: ServiceRequest, now: datetime) -> None:
    """The master's side of a new link (an internal event), and the follower's copy of the
    union's public answers on the master so far (on its timeline, no inbox item each: the
    "merged" item already tells the worker)."""
    master = await ServiceRequest.get(id=follower.duplicate_of_id)  # type: ignore[attr-defined]
    await record_event(master, EventKind.MERGED, actor=officer, public=False,
                       detail={"follower": follower.id}, now=now)
    earlier = await RequestEvent.filter(request_id=master.id, public=True, by_worker=False,
                                        kind__in=list(MIRRORED - {EventKind.ACKNOWLEDGED})
                                        ).order_by("id").select_related("actor")
    for event in earlier:
        if "master_event" not in event.detail:
            await _mirror(master, event, None, notify=False, only=follower.id)


def may_unlink(officer: Officer, request: ServiceRequest) -> bool:
    return (request.duplicate_of_id is not None  # type: ignore[attr-defined]
            and officer.role in {Role.ADMIN, Role.CHAIR, Role.CADRE})


async def unlink(officer: Officer, request: ServiceRequest, note: str = "",
                 now: datetime | None = None) -> RequestEvent:
    """Undo "duplicate": the request is handled on its own again, with an event on both
    timelines (the worker reads theirs; the master's is internal to the union)."""
    if not may_unlink(officer, request):
        raise _refused_now()
    now = now or datetime.now(UTC)
    async with transaction():
        fresh = await ServiceRequest.filter(id=request.id).select_for_update().get()
        master_id = fresh.duplicate_of_id  # type: ignore[attr-defined]
        if master_id is None:
            raise _refused_now()
        fresh.duplicate_of = None
        updates = ["duplicate_of_id"]
        if fresh.status in OPEN_STATUSES:
            # Its own clock again (the deadline job skipped it while it followed).
            fresh.level_due_at = deadlines.add_workdays(now, deadlines.LEVEL_WORKDAYS)
            updates.append("level_due_at")
        await fresh.save(update_fields=updates)
        event = await record_event(fresh, EventKind.UNLINKED, actor=officer,
                                   note=note.strip()[:MAX_NOTE],
                                   detail={"master": master_id}, now=now)
        master = await ServiceRequest.get(id=master_id)
        await record_event(master, EventKind.UNLINKED, actor=officer, public=False,
                           detail={"follower": fresh.id}, now=now)
    return event


@dataclass(frozen=True)
class Followed:
    """What the worker of a duplicate learns of its master: its status and the union's
    resolution, nothing about its worker or their words."""
    status: Status
    resolution: str


async def followed(request: ServiceRequest) -> Followed | None:
    master_id = request.duplicate_of_id  # type: ignore[attr-defined]
    if master_id is None:
        return None
    row = await ServiceRequest.filter(id=master_id).values_list("status", "resolution")
    if not row:
        return None
    status, resolution = row[0]
    shown = str(resolution) if status in {Status.RESOLVED, Status.CLOSED} else ""
    return Followed(Status(status), shown)


async def links_of(request: ServiceRequest) -> tuple[int | None, list[int]]:
    """The master a request follows, and the requests following it (for the officer page)."""
    followers = await ServiceRequest.filter(duplicate_of_id=request.id).order_by(
        "id").values_list("id", flat=True)
    return request.duplicate_of_id, [int(i) for i in followers]  # type: ignore[attr-defined, call-overload]


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
        raise invalid_form_key()
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
                request.level_due_at = deadlines.next_level_due(request.category, now,
                                                                request.urgency)
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
                level_due_at=deadlines.next_level_due(request.category, now, request.urgency))
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
