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
    # An organisation outside the union (server.models.partners): reads only what is
    # referred to it.
    PARTNER = "partner"


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


class PasswordCode(Model):
    # A one-time code with which an officer sets their own password: given when the account
    # is made on the web and when a password is reset. Shown once to the officer who issued
    # it; the table keeps only its keyed hash (server.services.officers). (A comment, not a
    # docstring: Tortoise copies docstrings into SQL comments.)

    id = fields.IntField(primary_key=True)
    officer: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="password_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    created_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="issued_password_codes", null=True,
        on_delete=fields.SET_NULL
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    # Set when the code is used, replaced by a newer one, tried too often or its officer
    # is deactivated: a code is good only while this is empty.
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "password_code"
        indexes = (("officer_id", "used_at"),)
