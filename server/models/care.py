"""The 1+X+100 duty of care: visits and calls a cadre logs (走访记录)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.unions import UnionNode


class ContactKind(StrEnum):
    VISIT = "visit"  # 走访: saw the worker in person
    CALL = "call"  # 电话


class ContactLog(Model):
    # One visit or call, logged with one tap (offline through the outbox: client_id).
    # `project` is the member's project at the time, so a member who moves on takes none
    # of the old site's care with them into the new site's figures.

    id = fields.BigIntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="contacts", on_delete=fields.CASCADE
    )
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="contacts", null=True, on_delete=fields.SET_NULL
    )
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="contacts", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(ContactKind, max_length=8)
    note = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "contact_log"
        indexes = (("member_id", "created_at"), ("project_id", "created_at"))
