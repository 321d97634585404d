"""Server-side sign-in sessions for officers and members.

The browser's cookie holds only a random 256-bit key; this table keeps its SHA-256, so a
copy of the table (a backup, a replica) cannot be turned back into working cookies. A
session ends by setting `ended_at`, which every server process sees on its next lookup.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer


class SessionKind(StrEnum):
    OFFICER = "officer"
    MEMBER = "member"


class Session(Model):
    id = fields.BigIntField(primary_key=True)
    key_hash = fields.CharField(max_length=64, unique=True)
    kind = fields.CharEnumField(SessionKind, max_length=8)
    # Exactly one of the two is set, the one `kind` names.
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    member: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    # The subject's session_epoch at sign-in: bumping it (a new phone) ends older sessions
    # even where nothing ended their rows.
    epoch = fields.IntField(default=0)
    csrf = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    ended_at = fields.DatetimeField(null=True)

    class Meta:
        table = "session"
        indexes = (("officer_id", "ended_at"), ("member_id", "ended_at"))
