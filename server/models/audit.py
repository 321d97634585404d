"""What officers did (the audit log) and the counters of rate limits (across processes)."""

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


class LimitCounter(Model):
    """One fixed window of one rate limit (server.services.limits): bumped by a single
    INSERT … ON CONFLICT DO UPDATE … RETURNING, so concurrent attempts never share a count."""

    id = fields.BigIntField(primary_key=True)
    # "login.phone:138…", "rebind.code:42", …: the limit's name and what it counts.
    bucket = fields.CharField(max_length=100)
    window_start = fields.BigIntField()  # Unix seconds
    expires = fields.BigIntField(db_index=True)  # Unix seconds; the row is garbage after it
    hits = fields.IntField(default=0)

    class Meta:
        table = "limit_counter"
        unique_together = (("bucket", "window_start"),)
