"""Shared problems (共性问题, "我也遇到"): published by a project's chair or a cadre as a short
summary in the union's own words, joined by the project's workers with one tap, closed with a
public outcome.

A worker counts once: `shared_join` is UNIQUE on (problem, member), and the tap's client_id
is UNIQUE too, so the outbox replaying a tap answers like the first time. Management learns
how many are affected only as `privacy` shows counts outside the union (fewer than 5: "< 5").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from server import privacy
from server.db import fetch, transaction
from server.errors import DomainError, invalid_form_key
from server.i18n import N_, gettext
from server.models import (
    InboxItem,
    Member,
    MemberStatus,
    Officer,
    Role,
    ServiceRequest,
    SharedJoin,
    SharedProblem,
    SharedStatus,
    SharedUpdate,
)
from server.services import delivery
from server.validation import Cleaner

MAX_TITLE = 60
MAX_SUMMARY = 500
MAX_NOTE = 1000
# How many open problems a worker's page lists (newest first): it is a side box, not a feed.
SHOWN_TO_WORKERS = 5
PUBLISHERS = frozenset({Role.CHAIR, Role.CADRE})


@dataclass(frozen=True)
class NewShared:
    client_id: uuid.UUID
    title: str
    summary: str


def clean_new(data: Mapping[str, object]) -> tuple[NewShared | None, dict[str, str]]:
    c = Cleaner(data)
    client_id = c.client_id()
    title = c.text("title", required=True, max_length=MAX_TITLE, label=N_("标题"))
    summary = c.text("summary", required=False, max_length=MAX_SUMMARY, label=N_("情况说明"),
                     multiline=True)
    if c.errors:
        return None, c.errors
    return NewShared(client_id, title, summary), {}


def clean_note(data: Mapping[str, object]) -> tuple[str, str]:
    c = Cleaner(data)
    note = c.text("note", required=True, max_length=MAX_NOTE, label=N_("说明"),
                  multiline=True)
    return note, "; ".join(c.errors.values())


def may_publish(officer: Officer) -> bool:
    """The chair or a cadre of a project (their own project's problems only)."""
    return officer.role in PUBLISHERS and officer.union.is_project


def may_manage(officer: Officer, problem: SharedProblem) -> bool:
    return may_publish(officer) and officer.union.id == problem.project_id  # type: ignore[attr-defined]


async def publish(officer: Officer, new: NewShared,
                  source: ServiceRequest | None = None,
                  now: datetime | None = None) -> tuple[SharedProblem, bool]:
    """Publish once per client_id; a replay by the same officer answers with the first."""
    if not may_publish(officer):
        raise DomainError(gettext("只有项目工会主席或工会干部可以发布"), status=403)
    project_id = officer.union.id
    if source is not None and source.project_id != project_id:  # type: ignore[attr-defined]
        raise DomainError(gettext("找不到这条诉求"), status=404)
    now = now or datetime.now(UTC)
    try:
        async with transaction():
            problem = await SharedProblem.create(
                client_id=new.client_id, project_id=project_id, title=new.title,
                summary=new.summary, created_by=officer, source_request=source,
                created_at=now, updated_at=now)
    except IntegrityError:
        existing = await SharedProblem.get_or_none(client_id=new.client_id)
        if existing is None or existing.created_by_id != officer.id:  # type: ignore[attr-defined]
            raise invalid_form_key() from None
        return existing, False
    return problem, True


@dataclass(frozen=True)
class Joined:
    created: bool


async def join(member: Member, problem: SharedProblem, client_id: uuid.UUID,
               now: datetime | None = None) -> Joined:
    """"我也遇到": the member joins once, however many taps or replays arrive at once."""
    done = await SharedJoin.get_or_none(client_id=client_id)
    if done is not None:
        return _replay(done, member, problem)
    if member.status != MemberStatus.ACTIVE:
        raise DomainError(gettext("入会申请通过后才能参加"), status=409)
    if problem.status != SharedStatus.OPEN:
        if await has_joined(member, problem):
            return Joined(False)  # a tap queued offline before it closed: already counted
        raise DomainError(gettext("这个问题已经办完了"), status=409)
    now = now or datetime.now(UTC)
    # One statement that skips a row already there (either UNIQUE key): no failed INSERT
    # aborting a transaction on PostgreSQL, no race between a check and the write.
    rows = await fetch(
        "INSERT INTO shared_join (problem_id, member_id, client_id, created_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id",
        problem.id, member.id, str(client_id), now)
    if rows:
        return Joined(True)
    done = await SharedJoin.get_or_none(client_id=client_id)
    if done is not None:
        return _replay(done, member, problem)
    return Joined(False)  # joined before, by another tap


def _replay(done: SharedJoin, member: Member, problem: SharedProblem) -> Joined:
    """An idempotency key is not a credential: it answers only for the same tap."""
    if (done.member_id != member.id  # type: ignore[attr-defined]
            or done.problem_id != problem.id):  # type: ignore[attr-defined]
        raise invalid_form_key()
    return Joined(False)


async def post(officer: Officer, problem: SharedProblem, note: str, *, close: bool,
               now: datetime | None = None) -> SharedUpdate:
    """A public word on the problem (closing it when `close`), with an inbox item for every
    worker who joined, written in the same transaction."""
    if not may_manage(officer, problem):
        raise DomainError(gettext("只有本项目的工会主席或工会干部可以操作"), status=403)
    if not note.strip():
        raise DomainError(gettext("请填写说明"), field="note")
    now = now or datetime.now(UTC)
    async with transaction() as tx:
        fresh = await SharedProblem.filter(id=problem.id).select_for_update().get()
        if fresh.status != SharedStatus.OPEN:
            raise DomainError(gettext("这个问题已经办完了"), status=409)
        update = await SharedUpdate.create(problem=fresh, closed=close, note=note,
                                           actor=officer, created_at=now)
        changes = {"outcome": note, "updated_at": now}
        if close:
            changes.update(status=SharedStatus.CLOSED, closed_at=now)
        await SharedProblem.filter(id=fresh.id).update(**changes)
        reason = "shared_closed" if close else "shared_update"
        await fetch(
            "INSERT INTO inbox_item (member_id, shared_update_id, reason, created_at) "
            "SELECT member_id, ?, ?, ? FROM shared_join WHERE problem_id = ? "
            "ON CONFLICT DO NOTHING", update.id, reason, now, fresh.id)
        await delivery.enqueue_for_shared_update(tx, update.id)
    return update


@dataclass(frozen=True)
class WorkerRow:
    problem: SharedProblem
    joined: bool


async def open_for(member: Member) -> list[WorkerRow]:
    """The open problems of the member's project, newest first, and whether they joined."""
    if member.status != MemberStatus.ACTIVE:
        return []
    problems = await SharedProblem.filter(
        project_id=member.project_id, status=SharedStatus.OPEN,  # type: ignore[attr-defined]
    ).order_by("-id").limit(SHOWN_TO_WORKERS)
    joined = set(await SharedJoin.filter(
        member_id=member.id, problem_id__in=[p.id for p in problems]).values_list(
        "problem_id", flat=True))
    return [WorkerRow(p, p.id in joined) for p in problems]


async def has_joined(member: Member, problem: SharedProblem) -> bool:
    return await SharedJoin.exists(member_id=member.id, problem_id=problem.id)


async def affected(viewer: privacy.Viewer, problem: SharedProblem) -> privacy.Count:
    """受影响工人: exact inside the union, "< 5" for fewer than 5 outside it."""
    n = await SharedJoin.filter(problem_id=problem.id).count()
    return privacy.count_for(viewer, n)


async def joined_names(problem: SharedProblem, scope: Q) -> list[str]:
    """Who joined, among the members in `scope` (`access.member_scope` of the officer
    asking: as they see members elsewhere)."""
    rows = await Member.filter(scope, shared_joins__problem_id=problem.id
                               ).order_by("name").values_list("name", flat=True)
    return [str(r) for r in rows]


async def mark_read(member: Member, problem: SharedProblem) -> None:
    """Opening the problem reads every inbox item about it."""
    await InboxItem.filter(
        member_id=member.id, read_at__isnull=True,
        shared_update_id__in=Subquery(SharedUpdate.filter(problem_id=problem.id).values("id")),
    ).update(read_at=datetime.now(UTC))


async def updates_of(problem: SharedProblem) -> list[SharedUpdate]:
    return await SharedUpdate.filter(problem_id=problem.id).order_by("id")
