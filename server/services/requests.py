"""Requests (诉求): checking the form and filing exactly once, alone or as an outbox batch.

What happens to a request after filing, and every event it gets (the filing event
included), is `server.services.lifecycle`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from server.db import insert_like, transaction
from server.errors import DomainError, TooManyAttempts, invalid_form_key
from server.i18n import N_, gettext
from server.models import (
    Anonymity,
    Category,
    HeardBy,
    Member,
    MemberStatus,
    Officer,
    RequestPhoto,
    ServiceRequest,
    Urgency,
)
from server.services import deadlines, lifecycle, limits, membership, rota, wages
from server.services.photos import CleanedPhotos, CleanPhoto
from server.services.voice import NO_VOICE, CleanedVoice, CleanVoice
from server.validation import Cleaner

MAX_DESCRIPTION = 2000
# Items per outbox batch: one round trip and one transaction for a day's worth of filing.
MAX_BATCH = 100


# --- filing ----------------------------------------------------------------------------------

@dataclass
class NewRequest:
    client_id: uuid.UUID
    category: Category
    description: str
    urgency: Urgency
    anonymity: Anonymity
    photos: list[tuple[bytes, str]] = field(default_factory=list)
    # Filed alone only (a form with a file never travels in an outbox batch).
    voice: CleanVoice | None = None
    # Filed by a cadre on the worker's behalf: how the cadre heard it, and the worker's
    # consent (`clean_on_behalf` refuses the form without it).
    heard_by: HeardBy | None = None
    consent: bool = False
    # A wage case's amount owed, workers affected, employer owing and period.
    wage: wages.WageFacts = wages.NO_FACTS


def clean_new_request(data: Mapping[str, object], uploads: CleanedPhotos,
                      voice: CleanedVoice = NO_VOICE) -> tuple[NewRequest | None,
                                                               dict[str, str],
                                                               list[CleanPhoto]]:
    """The request form, checked. The rule for words: a description, or a voice message,
    or both; a request with neither says nothing."""
    c = Cleaner(data)
    client_id = c.client_id()
    category = c.choice("category", {str(k): k for k in Category}, required=True,
                        label=N_("诉求类别"))
    description = c.text("description", required=False, max_length=MAX_DESCRIPTION,
                         label=N_("诉求内容"), multiline=True)
    if not description and not voice.sent and "description" not in c.errors:
        c.errors["description"] = gettext("请写几句话说明情况，或者录一段语音")
    if voice.error:
        c.errors["voice"] = voice.error
    urgency = c.choice("urgency", {str(k): k for k in Urgency}, required=False,
                       label=N_("紧急程度")) or Urgency.NORMAL
    anonymity = c.choice("anonymous", {str(k): k for k in Anonymity}, required=False,
                         label=N_("匿名")) or Anonymity.MANAGEMENT
    wage = wages.clean_facts(c, category)
    # Photos are cleaned before this, off the event loop (photos.clean_photos).
    photos = uploads.photos
    if uploads.error:
        c.errors["photo"] = uploads.error
    if c.errors:
        return None, c.errors, []
    return NewRequest(client_id, Category(category), description, Urgency(urgency),
                      Anonymity(anonymity), voice=voice.voice, wage=wage), {}, photos


def clean_on_behalf(data: Mapping[str, object], uploads: CleanedPhotos,
                    voice: CleanedVoice = NO_VOICE) -> tuple[NewRequest | None,
                                                             dict[str, str],
                                                             list[CleanPhoto]]:
    """The cadre's "代工友提交诉求" form: the worker's form, plus how the cadre heard it and
    the worker's consent, which is required (a request is the worker's to make)."""
    new, errors, photos = clean_new_request(data, uploads, voice)
    c = Cleaner(data)
    heard = c.choice("heard_by", {str(k): k for k in HeardBy}, required=True,
                     label=N_("怎么听到的"))
    if data.get("consent") != "yes":
        c.errors["consent"] = consent_message()
    errors = {**errors, **c.errors}
    if new is None or errors:
        return None, errors, []
    new.heard_by, new.consent = HeardBy(heard), True
    return new, {}, photos


def consent_message() -> str:
    return gettext("要先问工友同不同意由你代为提交，同意了再勾选")


@dataclass
class FiledRequest:
    request: ServiceRequest
    created: bool


def _not_active(member: Member) -> DomainError:
    if member.status == MemberStatus.LEFT:
        return DomainError(left_message(), status=409)
    return DomainError(gettext("入会申请通过后才能提交诉求"), status=409)


def left_message() -> str:
    return gettext("你已离场，不能再提交新的诉求；以前的诉求仍可查看和补充。"
                   "到了新工地，扫那里的入会二维码，会籍转过去后就可以了。")


def _same_content(row: tuple[object, ...], new: NewRequest) -> bool:
    """Whether a stored (category, description, urgency, anonymity, wage facts) is what
    `new` says."""
    return tuple(str(v) for v in row) == (
        new.category.value, new.description, new.urgency.value, new.anonymity.value,
        *wages.facts_key(new.wage))


CONTENT_COLUMNS = ("category", "description", "urgency", "anonymity", *wages.FACT_COLUMNS)


async def _replayed(member: Member, new: NewRequest,
                    on_behalf_by: Officer | None) -> ServiceRequest | None:
    """The request a replayed client_id filed, answered only to the member who filed it (or
    the officer who filed it for them) and only for the same content: an idempotency key is
    not a credential, and a second form that reused one must not vanish into the first."""
    existing = await ServiceRequest.get_or_none(client_id=new.client_id)
    if existing is None:
        return None
    filer = on_behalf_by.id if on_behalf_by is not None else None
    if (existing.member_id != member.id  # type: ignore[attr-defined]
            or existing.on_behalf_by_id != filer  # type: ignore[attr-defined]
            or not _same_content(tuple(getattr(existing, c) for c in CONTENT_COLUMNS), new)):
        raise invalid_form_key()
    return existing


async def file_request(member: Member, new: NewRequest, photos: Sequence[CleanPhoto],
                       now: datetime | None = None, *,
                       on_behalf_by: Officer | None = None) -> FiledRequest:
    """Create the request once per client_id; a replay returns the first one unchanged.

    With `on_behalf_by`, a cadre files it for the worker (heard face to face or by phone,
    with their consent): it is the worker's request all the same (their project, their
    liaison, their quota), and its first event says who filed it and how."""
    if on_behalf_by is not None and (new.heard_by is None or not new.consent):
        raise DomainError(consent_message(), field="consent")
    hit = await limits.count_filing(member, new.client_id)
    existing = await _replayed(member, new, on_behalf_by)
    if existing is not None:
        # A replay files nothing: what it counted goes back (forty concurrent replays of one
        # form must not use up the worker's hour).
        await limits.refund(hit)
        return FiledRequest(existing, False)
    if member.status != MemberStatus.ACTIVE:
        await limits.refund(hit)
        raise _not_active(member)
    now = now or datetime.now(UTC)
    project = member.project
    due = deadlines.due_times(new.category, (await deadlines.targets_for(project))[new.category],
                              new.urgency, now)
    duty = await rota.duty_for(project.id, new.category, now)
    try:
        async with transaction():
            request = await ServiceRequest.create(
                client_id=new.client_id, member=member, project=project,
                category=new.category,
                description=new.description, urgency=new.urgency, anonymity=new.anonymity,
                assignee_id=await membership.filing_assignee_id(member),
                created_at=now, ack_due_at=due.ack, resolve_due_at=due.resolve,
                level_due_at=due.ack,
                duty=duty, **wages.columns(new.wage),
                on_behalf_by=on_behalf_by,
                on_behalf_channel=new.heard_by if on_behalf_by is not None else None,
                on_behalf_consent_at=now if on_behalf_by is not None else None,
            )
            for photo in photos:
                await RequestPhoto.create(request=request, data=photo.data,
                                          content_type=photo.content_type,
                                          size=len(photo.data), width=photo.width,
                                          height=photo.height, sha256=photo.sha256,
                                          upload_sha256=photo.upload_sha256)
            await lifecycle.record_filed(request, now, new.voice, on_behalf_by=on_behalf_by)
    except IntegrityError:
        existing = await _replayed(member, new, on_behalf_by)
        if existing is None:
            raise
        await limits.refund(hit)
        return FiledRequest(existing, False)
    return FiledRequest(request, True)


@dataclass(frozen=True)
class Filed:
    request_id: int
    created: bool


async def file_requests(
    member: Member, batch: Sequence[NewRequest], now: datetime | None = None,
) -> list[Filed | DomainError]:
    """File a batch from one member's outbox in one transaction, a fixed handful of queries
    however many items: what `file_request` does for one, with the same answer for each item,
    in the batch's order.

    Exactly once holds under concurrent flushes of the same items (two tabs, the service
    worker): both inserts skip rows that exist (ON CONFLICT DO NOTHING on client_id), and the
    filing event carries the request's client_id, so it too is written once. Two items with
    one client_id are judged like two posts of it: the second is a replay when its content is
    the same, and refused when it is not, never silently merged into the first.
    """
    # Items over the member's hourly quota are answered 429 (the outbox keeps them and
    # tries later) and filed no further.
    allowed = await limits.filing_quota(member, [new.client_id for new in batch])
    over_quota = TooManyAttempts(limits.requests_message())
    within = [new for new in batch if new.client_id in allowed]
    now = now or datetime.now(UTC)
    firsts = {new.client_id: new for new in reversed(within)}
    columns = ("client_id", "id", "member_id", *CONTENT_COLUMNS)
    not_active: set[uuid.UUID] = set()
    async with transaction() as conn:
        # Rows as tuples, not models: building models is most of the cost.
        found = await ServiceRequest.filter(client_id__in=list(firsts)).values_list(*columns)
        known = {row[0]: row for row in found}
        fresh = [new for client_id, new in firsts.items() if client_id not in known]
        if fresh and member.status != MemberStatus.ACTIVE:
            not_active = {new.client_id for new in fresh}
            fresh = []
        created: set[uuid.UUID] = set()
        if fresh:
            await _insert_new(conn, member, fresh, now)
            inserted = await ServiceRequest.filter(
                client_id__in=[new.client_id for new in fresh]).using_db(conn).values_list(
                *columns)
            known.update({row[0]: row for row in inserted})
            created = {row[0] for row in inserted}
            await lifecycle.record_submitted(conn, [row[1] for row in inserted], member.id)
    results: list[Filed | DomainError] = []
    answered: set[uuid.UUID] = set()
    for new in batch:
        if new.client_id not in allowed:
            results.append(over_quota)
            continue
        if new.client_id in not_active:
            results.append(_not_active(member))
            continue
        _, request_id, owner_id, *content = known[new.client_id]
        if owner_id != member.id or not _same_content(tuple(content), new):
            results.append(invalid_form_key())
        else:
            first_time = new.client_id in created and new.client_id not in answered
            results.append(Filed(request_id, first_time))
        answered.add(new.client_id)
    return results


async def _insert_new(conn: BaseDBAsyncClient, member: Member, fresh: Sequence[NewRequest],
                      now: datetime) -> None:
    project = member.project
    targets = await deadlines.targets_for(project)
    due = {(c, u): deadlines.due_times(c, targets[c], u, now)
           for c, u in {(new.category, new.urgency) for new in fresh}}
    duty = {c: await rota.duty_for(project.id, c, now) for c in {new.category for new in fresh}}
    first = fresh[0]
    template = ServiceRequest(
        client_id=first.client_id, member_id=member.id, project_id=project.id,
        category=first.category, description=first.description,
        urgency=first.urgency, anonymity=first.anonymity,
        assignee_id=await membership.filing_assignee_id(member),
        created_at=now, ack_due_at=now, level_due_at=now, resolve_due_at=now,
        duty=duty[first.category], **wages.columns(first.wage))
    rows = []
    for new in fresh:
        times = due[(new.category, new.urgency)]
        rows.append({"client_id": new.client_id, "category": new.category,
                     "description": new.description, "urgency": new.urgency,
                     "anonymity": new.anonymity, "created_at": now, "ack_due_at": times.ack,
                     "level_due_at": times.ack, "resolve_due_at": times.resolve,
                     "duty": duty[new.category], **wages.columns(new.wage)})
    await insert_like(conn, template, rows)
