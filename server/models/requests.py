"""Requests (诉求) from workers, their photos, and the timeline of everything that happened."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.unions import UnionNode


class Category(StrEnum):
    WAGES = "wages"
    SAFETY = "safety"
    LIVING = "living"
    FAMILY_VISIT = "family_visit"
    TRAVEL_HOME = "travel_home"
    LEGAL = "legal"
    HEALTH = "health"
    COUNSELLING = "counselling"
    TRAINING = "training"
    SUGGESTION = "suggestion"
    OTHER = "other"


class Status(StrEnum):
    SUBMITTED = "submitted"  # 待受理
    ACKNOWLEDGED = "acknowledged"  # 已受理
    IN_PROGRESS = "in_progress"  # 办理中
    RESOLVED = "resolved"  # 已办结
    CLOSED = "closed"  # 已确认
    DECLINED = "declined"  # 不予受理


OPEN_STATUSES = (Status.SUBMITTED, Status.ACKNOWLEDGED, Status.IN_PROGRESS)


class Level(StrEnum):
    """Who holds the request now: escalation moves it up one step at a time."""

    CADRE = "cadre"
    CHAIR = "chair"
    UPPER = "upper"


class Anonymity(StrEnum):
    MANAGEMENT = "management"  # hidden from management and the upper union (the default)
    ALL = "all"  # hidden from union officers too


class HeardBy(StrEnum):
    """How a cadre heard a request they filed on a worker's behalf."""

    IN_PERSON = "in_person"  # 当面
    PHONE = "phone"  # 电话


class Urgency(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class EventKind(StrEnum):
    SUBMITTED = "submitted"
    ACKNOWLEDGED = "acknowledged"
    REPLY = "reply"  # officer → worker
    WORKER_REPLY = "worker_reply"  # worker → officers
    NOTE = "note"  # internal
    ESCALATED = "escalated"
    AUTO_ESCALATED = "auto_escalated"
    REFERRED = "referred"
    MANAGEMENT_REPLY = "management_reply"
    RESOLVED = "resolved"
    DECLINED = "declined"
    DUPLICATE = "duplicate"
    CONFIRMED = "confirmed"
    AUTO_CLOSED = "auto_closed"
    REOPENED = "reopened"
    RATED = "rated"
    REASSIGNED = "reassigned"
    # The officer holding it was deactivated: it went to the worker's new liaison.
    HANDED_OVER = "handed_over"
    # The deadline job reminding the assignee that the current deadline is near (internal).
    DUE_SOON = "due_soon"
    # On a master: a request was merged into it (internal). On either side: the link undone.
    MERGED = "merged"
    UNLINKED = "unlinked"
    # Wage-case milestones (欠薪): each carries its amounts in `detail` and the worker reads it.
    WAGE_VERIFIED = "wage_verified"  # 核实
    WAGE_PROMISED = "wage_promised"  # 承诺支付日期
    WAGE_PARTIAL = "wage_partial"  # 部分支付
    WAGE_PAID = "wage_paid"  # 已支付
    WAGE_CLAIM = "wage_claim"  # a member's own claim added to a collective case (internal)

    # A union officer who may act on it opened it for the first time: "干部已查看" for the
    # worker. Written once (ServiceRequest.viewed_at claims it); no inbox item, no "新回复".
    VIEWED = "viewed"
    # Referral to a partner (server.services.partners); not the referral to management.
    PARTNER_REFERRED = "partner_referred"
    PARTNER_REPLY = "partner_reply"  # partner → worker (public)
    PARTNER_NOTE = "partner_note"  # partner → union (internal)
    PARTNER_OUTCOME = "partner_outcome"  # the partner closed the referral with an outcome
    CONSENT = "consent"  # the worker agreed or refused to be named to a partner


class WageStage(StrEnum):
    VERIFIED = "verified"
    PROMISED = "promised"
    PARTIAL = "partial"
    PAID = "paid"


class ServiceRequest(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="requests", on_delete=fields.RESTRICT
    )
    # Copied from the member so every queue and figure is one indexed filter on this table.
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="requests", on_delete=fields.RESTRICT
    )
    category = fields.CharEnumField(Category, max_length=20)
    description = fields.TextField()
    urgency = fields.CharEnumField(Urgency, max_length=10, default=Urgency.NORMAL)
    anonymity = fields.CharEnumField(Anonymity, max_length=12, default=Anonymity.MANAGEMENT)
    status = fields.CharEnumField(Status, max_length=14, default=Status.SUBMITTED)
    level = fields.CharEnumField(Level, max_length=8, default=Level.CADRE)
    assignee: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="assigned_requests", null=True,
        on_delete=fields.SET_NULL
    )
    referred = fields.BooleanField(default=False)
    duplicate_of: fields.ForeignKeyNullableRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="duplicates", null=True, on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    ack_due_at = fields.DatetimeField()
    resolve_due_at = fields.DatetimeField()
    # When the holder of the current level runs out of time (the deadline job looks here).
    level_due_at = fields.DatetimeField()
    acknowledged_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # Durations kept as numbers so medians are one indexed ORDER BY … OFFSET in any database.
    ack_seconds = fields.IntField(null=True)
    resolve_seconds = fields.IntField(null=True)
    resolved_on_time = fields.BooleanField(null=True)
    resolution = fields.TextField(default="")
    rating = fields.SmallIntField(null=True)
    rating_comment = fields.CharField(max_length=300, default="")
    last_event_id = fields.BigIntField(default=0)
    # The department on duty (值日) when the request was filed in that day's duty category.
    duty = fields.CharField(max_length=30, null=True)
    # The newest event the worker has seen (opening the request sees all of it), and the
    # newest that is news for them: an answer they can read or their own words, not an
    # escalation or a referral. "新回复" shows while the second is ahead of the first.
    worker_seen_event_id = fields.BigIntField(default=0)
    last_public_event_id = fields.BigIntField(default=0)
    # Filed by a cadre on the worker's behalf (heard face to face or by phone), with the
    # worker's consent: who, how, and when the consent was recorded. All null for a request
    # the worker filed. Who filed it is never shown outside the union (server.privacy).
    on_behalf_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="filed_on_behalf", null=True,
        on_delete=fields.SET_NULL
    )
    on_behalf_channel = fields.CharEnumField(HeardBy, max_length=10, null=True)
    on_behalf_consent_at = fields.DatetimeField(null=True)
    # Wage cases (欠薪, category wages only; null elsewhere). Whole yuan, as workers and
    # labour inspectors count them: no fen, no floating point. The figures' triggers sum
    # them (migration 0018). For a collective case they are the case's totals, kept at
    # least the sum and count of its members' claims (`WageClaim`).
    amount_owed = fields.IntField(null=True)
    amount_recovered = fields.IntField(null=True)
    workers_affected = fields.IntField(null=True)
    employer_owing = fields.CharField(max_length=100, null=True)
    wage_period = fields.CharField(max_length=50, null=True)
    wage_stage = fields.CharEnumField(WageStage, max_length=10, null=True)
    wage_promised_on = fields.DateField(null=True)
    # When a union officer who may act on it first opened it (the `viewed` event's time);
    # the queue marks it 新 until then.
    viewed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "service_request"
        indexes = (
            ("project_id", "status"),
            ("assignee_id", "status"),
            ("status", "level_due_at"),
            ("project_id", "created_at"),
            ("member_id", "created_at"),
        )

    def __str__(self) -> str:
        return f"#{self.id}"


class RequestPhoto(Model):
    id = fields.IntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="photos", on_delete=fields.CASCADE
    )
    # Kept in the database: no local files, so any server process can serve it and backups
    # hold everything.
    data = fields.BinaryField()
    content_type = fields.CharField(max_length=20)
    size = fields.IntField()
    width = fields.IntField()
    height = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    # Hash of the bytes as uploaded, before re-encoding: proves the offline copy arrived whole.
    upload_sha256 = fields.CharField(max_length=64)

    class Meta:
        table = "request_photo"


class RequestVoice(Model):
    # A voice message: what one event said aloud (the filing, a worker's follow-up, an
    # officer's reply). Kept in the database like photos, checked before it is stored
    # (server.services.voice); served only to those who may hear it (server.privacy).
    id = fields.IntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="voices", on_delete=fields.CASCADE
    )
    event: fields.OneToOneRelation[RequestEvent] = fields.OneToOneField(
        "models.RequestEvent", related_name="voice", on_delete=fields.CASCADE
    )
    data = fields.BinaryField()
    content_type = fields.CharField(max_length=20)
    size = fields.IntField()
    duration_ms = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "request_voice"
        indexes = (("request_id", "id"),)


class RequestEvent(Model):
    id = fields.BigIntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="events", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(EventKind, max_length=20)
    actor: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="request_events", null=True, on_delete=fields.SET_NULL
    )
    by_worker = fields.BooleanField(default=False)
    public = fields.BooleanField(default=True)
    note = fields.TextField(default="")
    detail: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    # Worker-side writes (reply, confirm, reopen, rate) may come from the offline outbox.
    client_id = fields.UUIDField(null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "request_event"
        indexes = (("request_id", "id"),)


class CategoryDeadline(Model):
    # Targets set by a project chair; categories without a row use the defaults. (A comment,
    # not a docstring: Tortoise copies docstrings into SQL comments without escaping quotes.)

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="deadlines", on_delete=fields.CASCADE
    )
    category = fields.CharEnumField(Category, max_length=20)
    ack_hours = fields.IntField()
    resolve_workdays = fields.IntField()

    class Meta:
        table = "category_deadline"
        unique_together = (("project", "category"),)


class WageClaim(Model):
    # One member's own claim in a collective wage case: their amount, and whether they agree
    # that their name, ID number and phone go to the labour inspector (劳动监察) in the
    # export. Added by the chair or a cadre, or by the member joining the case.

    id = fields.IntField(primary_key=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="wage_claims", on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="wage_claims", on_delete=fields.RESTRICT
    )
    amount = fields.IntField()  # whole yuan
    consent = fields.BooleanField(default=False)
    added_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="wage_claims_added", null=True,
        on_delete=fields.SET_NULL
    )
    # A member joining from the outbox: the same form twice is one claim.
    client_id = fields.UUIDField(null=True, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "wage_claim"
        unique_together = (("request", "member"),)
