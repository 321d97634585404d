"""The inbox (消息): one row per (event, person it concerns), written with the event, and
one per (daily summary, chair), written with the summary.

Notices are not copied here (they reach their readers through their scope, see
`server.models.notices`); everything that happens on a request and concerns a worker or an
officer is, and so is each project chair's morning summary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.requests import RequestEvent, ServiceRequest
    from server.models.shared import SharedUpdate
    from server.models.unions import UnionNode


class DailySummary(Model):
    """每日汇总: a project's figures as they stood on the morning of `day` (Beijing time),
    kept rather than recomputed, so the page a chair opens later reads as it did that
    morning. UNIQUE (project, day): several processes making it at once make one."""

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="daily_summaries", on_delete=fields.CASCADE)
    day = fields.DateField()
    figures: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "daily_summary"
        unique_together = (("project", "day"),)


class InboxItem(Model):
    id = fields.BigIntField(primary_key=True)
    # Exactly one of member / officer is set.
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="inbox", null=True, on_delete=fields.CASCADE)
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="inbox", null=True, on_delete=fields.CASCADE)
    # The source (exactly one): an event on a request, or a daily summary.
    request: fields.ForeignKeyNullableRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="inbox_items", null=True,
        on_delete=fields.CASCADE)
    event: fields.ForeignKeyNullableRelation[RequestEvent] = fields.ForeignKeyField(
        "models.RequestEvent", related_name="inbox_items", null=True,
        on_delete=fields.CASCADE)
    summary: fields.ForeignKeyNullableRelation[DailySummary] = fields.ForeignKeyField(
        "models.DailySummary", related_name="inbox_items", null=True,
        on_delete=fields.CASCADE)
    # Or a public word on a shared problem the member joined (server.services.shared).
    shared_update: fields.ForeignKeyNullableRelation[SharedUpdate] = fields.ForeignKeyField(
        "models.SharedUpdate", related_name="inbox_items", null=True,
        on_delete=fields.CASCADE)
    # Why it is in this inbox ("reply", "assigned", "escalated_to_me", …): the line shown.
    reason = fields.CharField(max_length=24)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_item"
        unique_together = (("event", "member"), ("event", "officer"), ("summary", "officer"),
                           ("shared_update", "member"))
        indexes = (("member_id", "read_at"), ("officer_id", "read_at"),
                   ("request_id", "member_id"))
