"""The union tree (province → industry → company → branch → project) and project teams."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class NodeKind(StrEnum):
    PROVINCE = "province"
    INDUSTRY = "industry"
    COMPANY = "company"
    BRANCH = "branch"
    PROJECT = "project"


class UnionNode(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=120)
    kind = fields.CharEnumField(NodeKind, max_length=16)
    parent: fields.ForeignKeyNullableRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    # Materialised path ("/1/4/9/") so a subtree is one indexed LIKE 'prefix%' query.
    path = fields.CharField(max_length=255, default="/", db_index=True)
    # Project unions only: approve enrolments without a cadre looking at them.
    auto_approve = fields.BooleanField(default=False)
    # Per-project counter behind member numbers; bumped inside the approving transaction.
    member_seq = fields.IntField(default=0)
    # Project unions: where the union office is and its phone, kept by the chair. An
    # applicant still waiting (or turned down) has no liaison yet: this is whom they reach.
    # (A database default too: the columns are added to tables that already have rows.)
    office_address = fields.CharField(max_length=120, default="", db_default="")
    office_phone = fields.CharField(max_length=20, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "union_node"

    def __str__(self) -> str:
        return self.name

    @property
    def is_project(self) -> bool:
        return self.kind == NodeKind.PROJECT

    def contains(self, other: UnionNode) -> bool:
        return other.path.startswith(self.path)


class Team(Model):
    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="teams", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=60)

    class Meta:
        table = "team"
        unique_together = (("project", "name"),)

    def __str__(self) -> str:
        return self.name
