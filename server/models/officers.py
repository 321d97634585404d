"""Officer accounts: admin, upper union, chair, cadre and manager, each scoped to a union node."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.unions import Team, UnionNode


class Role(StrEnum):
    ADMIN = "admin"
    UPPER = "upper"
    CHAIR = "chair"
    CADRE = "cadre"
    MANAGER = "manager"


# Roles that may ever see who a worker is. Management and the upper union see figures only.
IDENTITY_ROLES = frozenset({Role.ADMIN, Role.CHAIR, Role.CADRE})


class Officer(Model):
    id = fields.IntField(primary_key=True)
    phone = fields.CharField(max_length=11, unique=True)
    name = fields.CharField(max_length=40)
    role = fields.CharEnumField(Role, max_length=16)
    union: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="officers", on_delete=fields.RESTRICT
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="cadres", null=True, on_delete=fields.SET_NULL
    )
    password_hash = fields.CharField(max_length=255)
    active = fields.BooleanField(default=True)
    # Bumped on logout-everywhere / password change: older signed sessions stop working.
    session_epoch = fields.IntField(default=0)
    # Bumped by every change made through server.services.officers: each process compares
    # it, read with the session on every request, against its cached snapshot.
    version = fields.IntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "officer"

    def __str__(self) -> str:
        return self.name

    @property
    def sees_identities(self) -> bool:
        return self.role in IDENTITY_ROLES
