"""The record of officer actions (non-negotiable: every officer action is on the record)."""

from __future__ import annotations

from typing import Any

from server.models import AuditEntry, Officer


async def record(actor: Officer | None, action: str, target: Any = None, *, ip: str = "",
                 **detail: Any) -> AuditEntry:
    target_type = type(target).__name__.lower() if target is not None else ""
    target_id = getattr(target, "id", None)
    return await AuditEntry.create(actor=actor, action=action, target_type=target_type,
                                   target_id=target_id, detail=detail, ip=ip[:45])
