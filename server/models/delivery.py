"""Push subscriptions and the delivery queue (transactional outbox) that is also its log.

A `Delivery` row is written in the transaction that writes what it announces (an inbox item,
or a notice's fan-out job), so a message exists exactly when its cause does; workers claim
rows with a lease and mark them sent or failed. UNIQUE (source, subscription, channel) makes
"exactly once per (event, recipient, channel)" a property of the table, not of the code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.inbox import InboxItem
    from server.models.members import Member
    from server.models.notices import Notice
    from server.models.officers import Officer


class Channel(StrEnum):
    PUSH = "push"
    SMS = "sms"
    WECHAT = "wechat"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # waiting for next_attempt_at
    SENDING = "sending"  # claimed by a worker until claimed_until (its lease)
    SENT = "sent"
    FAILED = "failed"  # last attempt failed; retried at next_attempt_at
    DEAD = "dead"  # given up: subscription gone, refused, or too many attempts


class PushSubscription(Model):
    id = fields.BigIntField(primary_key=True)
    # Exactly one of member / officer is set.
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="push_subscriptions", null=True,
        on_delete=fields.CASCADE)
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="push_subscriptions", null=True,
        on_delete=fields.CASCADE)
    # The push service's URL for this browser: a bearer capability, kept only to send.
    endpoint = fields.CharField(max_length=1000, unique=True)
    p256dh = fields.CharField(max_length=120)
    auth = fields.CharField(max_length=40)
    created_at = fields.DatetimeField()
    last_success = fields.DatetimeField(null=True)
    failures = fields.IntField(default=0)

    class Meta:
        table = "push_subscription"
        indexes = (("member_id",), ("officer_id",))


class Delivery(Model):
    id = fields.BigIntField(primary_key=True)
    channel = fields.CharEnumField(Channel, max_length=8)
    # The recipient (exactly one), kept for the log after a subscription is gone.
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="deliveries", null=True, on_delete=fields.CASCADE)
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="deliveries", null=True, on_delete=fields.CASCADE)
    # The source (exactly one): an inbox item (an event that concerns the recipient) or a
    # notice reaching them through its scope.
    inbox_item: fields.ForeignKeyNullableRelation[InboxItem] = fields.ForeignKeyField(
        "models.InboxItem", related_name="deliveries", null=True, on_delete=fields.CASCADE)
    notice: fields.ForeignKeyNullableRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", null=True, on_delete=fields.CASCADE)
    subscription: fields.ForeignKeyNullableRelation[PushSubscription] = fields.ForeignKeyField(
        "models.PushSubscription", related_name="deliveries", null=True,
        on_delete=fields.SET_NULL)
    status = fields.CharEnumField(DeliveryStatus, max_length=8, default=DeliveryStatus.QUEUED)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=40, null=True)
    claimed_until = fields.DatetimeField(null=True)
    # Why the last attempt failed, in the push service's words (a status code, a reason):
    # never the message, which the log does not keep.
    last_error = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    # Exactly once for channels that have no subscription (NULLs never collide in the UNIQUE
    # above): 'sms:<inbox item id>'; NULL for pushes.
    once_key = fields.CharField(max_length=40, null=True, unique=True)

    class Meta:
        table = "delivery"
        unique_together = (("inbox_item", "subscription", "channel"),
                           ("notice", "subscription", "channel"))
        indexes = (("status", "next_attempt_at"), ("created_at",))


class FanoutJob(Model):
    """Expanding a notice into deliveries, in batches, by a worker: publishing to 500,000
    members writes this one row. `after_id` is the last subscription id expanded, saved with
    each batch's rows, so a killed worker's successor resumes where it stopped."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="fanout_jobs", on_delete=fields.CASCADE)
    channel = fields.CharEnumField(Channel, max_length=8)
    after_id = fields.BigIntField(default=0)
    done = fields.BooleanField(default=False)
    claimed_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "fanout_job"
        unique_together = (("notice", "channel"),)
        indexes = (("done", "claimed_until"),)


class SmsMonth(Model):
    """What SMS cost this month: bumped in the transaction that marks messages sent."""

    id = fields.IntField(primary_key=True)
    month = fields.CharField(max_length=7, unique=True)  # "2026-11", Beijing time
    messages = fields.IntField(default=0)
    fen = fields.BigIntField(default=0)

    class Meta:
        table = "sms_month"
