"""What officers did (the audit log) and login attempts (for rate limiting across processes)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.officers import Officer


class AuditEntry(Model):
    id = fields.BigIntField(primary_key=True)
    actor: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="audit_entries", null=True, on_delete=fields.SET_NULL
    )
    action = fields.CharField(max_length=40, db_index=True)
    target_type = fields.CharField(max_length=20, default="")
    target_id = fields.IntField(null=True)
    detail: fields.JSONField[dict[str, object]] = fields.JSONField(default=dict)
    ip = fields.CharField(max_length=45, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "audit_entry"
        indexes = (("target_type", "target_id"),)


class LoginAttempt(Model):
    id = fields.BigIntField(primary_key=True)
    # "phone:138…" or "ip:1.2.3.4": both are limited.
    key = fields.CharField(max_length=64)
    success = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "login_attempt"
        indexes = (("key", "created_at"),)
