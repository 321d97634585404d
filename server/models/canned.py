"""Canned replies (常用回复): a project's short list of ready answers, kept by its chair."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.officers import Officer
    from server.models.unions import UnionNode


class CannedReply(Model):
    # One ready answer a cadre picks to fill the reply box, then edits before sending.
    # (A comment, not a docstring: Tortoise copies docstrings into SQL comments.)
    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="canned_replies", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    text = fields.CharField(max_length=200)
    updated_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="canned_replies", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "canned_reply"
        indexes = (("project_id", "position"),)
