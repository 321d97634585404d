"""The inbox (消息): one row per (event, person it concerns), written with the event.

Notices are not copied here (they reach their readers through their scope, see
`server.models.notices`); everything that happens on a request and concerns a worker or an
officer is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.requests import RequestEvent, ServiceRequest


class InboxItem(Model):
    id = fields.BigIntField(primary_key=True)
    # Exactly one of member / officer is set.
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="inbox", null=True, on_delete=fields.CASCADE)
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="inbox", null=True, on_delete=fields.CASCADE)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="inbox_items", on_delete=fields.CASCADE)
    event: fields.ForeignKeyRelation[RequestEvent] = fields.ForeignKeyField(
        "models.RequestEvent", related_name="inbox_items", on_delete=fields.CASCADE)
    # Why it is in this inbox ("reply", "assigned", "escalated_to_me", …): the line shown.
    reason = fields.CharField(max_length=24)
    created_at = fields.DatetimeField()
    read_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_item"
        unique_together = (("event", "member"), ("event", "officer"))
        indexes = (("member_id", "read_at"), ("officer_id", "read_at"),
                   ("request_id", "member_id"))
