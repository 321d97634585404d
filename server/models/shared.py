"""Shared problems (共性问题, "我也遇到"): one problem many workers of a project have, published
by the union as a short summary of its own words, which workers join with one tap.

The summary is the union's text, never a worker's (a request's words point to whoever wrote
them). Who joined is one row per (problem, member): UNIQUE, so a worker counts once however
many taps arrive at once; each row also keeps the tap's client_id, so an outbox replay is
recognised as the tap it repeats.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.requests import ServiceRequest
    from server.models.unions import UnionNode


class SharedStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class SharedProblem(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="shared_problems", on_delete=fields.RESTRICT)
    title = fields.CharField(max_length=60)
    summary = fields.TextField(default="")
    status = fields.CharEnumField(SharedStatus, max_length=8, default=SharedStatus.OPEN)
    # The latest public word on it (an update, or the outcome once closed).
    outcome = fields.TextField(default="")
    created_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="shared_problems", null=True, on_delete=fields.SET_NULL)
    # The request it was published from, if any (its text is not copied).
    source_request: fields.ForeignKeyNullableRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="shared_problems", null=True,
        on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "shared_problem"
        indexes = (("project_id", "status"),)


class SharedJoin(Model):
    id = fields.IntField(primary_key=True)
    problem: fields.ForeignKeyRelation[SharedProblem] = fields.ForeignKeyField(
        "models.SharedProblem", related_name="joins", on_delete=fields.CASCADE)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="shared_joins", on_delete=fields.CASCADE)
    client_id = fields.UUIDField(unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "shared_join"
        unique_together = (("problem", "member"),)


class SharedUpdate(Model):
    # A public word the union posted on a shared problem (an update, or the closing outcome):
    # what the inbox items of the workers who joined point to.
    id = fields.IntField(primary_key=True)
    problem: fields.ForeignKeyRelation[SharedProblem] = fields.ForeignKeyField(
        "models.SharedProblem", related_name="updates", on_delete=fields.CASCADE)
    closed = fields.BooleanField(default=False)
    note = fields.TextField()
    actor: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="shared_updates", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField()

    class Meta:
        table = "shared_update"
        indexes = (("problem_id", "id"),)
