"""Canned replies (常用回复): each project's short list of ready answers, kept by its chair,
picked by a cadre to fill the reply box (and edited there before sending)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from server.db import transaction
from server.errors import DomainError
from server.i18n import N_, gettext
from server.models import CannedReply, Officer, UnionNode
from server.validation import Cleaner

MAX_REPLIES = 30
MAX_TEXT = 200


class Move(StrEnum):
    UP = "up"
    DOWN = "down"


async def replies_for(project_id: int) -> list[CannedReply]:
    """A project's canned replies in the chair's order."""
    return await CannedReply.filter(project_id=project_id).order_by("position", "id")


def clean_text(data: Mapping[str, object]) -> str:
    c = Cleaner(data)
    text = c.text("text", required=True, max_length=MAX_TEXT, label=N_("回复内容"),
                  multiline=True)
    if c.errors:
        raise DomainError(c.errors["text"], field="text")
    return text


def full_message() -> str:
    return gettext("常用回复最多 %(n)d 条，先删掉用不着的再添加") % {"n": MAX_REPLIES}


async def add(officer: Officer, project: UnionNode, text: str) -> CannedReply:
    """Add one at the end of the list; refused once the list holds `MAX_REPLIES`."""
    async with transaction():
        # The project's row locked while the list is counted, so forty adds at once cannot
        # all see room for one more. (SQLite has one writer at a time anyway, where
        # select_for_update is a no-op.)
        await UnionNode.filter(id=project.id).select_for_update().get()
        query = CannedReply.filter(project_id=project.id)
        if await query.count() >= MAX_REPLIES:
            raise DomainError(full_message(), field="text", status=409)
        last = await query.order_by("-position").first()
        return await CannedReply.create(project_id=project.id, text=text,
                                        position=last.position + 1 if last else 0,
                                        updated_by=officer)


async def edit(officer: Officer, reply: CannedReply, text: str) -> None:
    await CannedReply.filter(id=reply.id).update(text=text, updated_by_id=officer.id)


async def delete(reply: CannedReply) -> None:
    await CannedReply.filter(id=reply.id).delete()


async def move(reply: CannedReply, direction: Move) -> bool:
    """Swap a reply with its neighbour above or below; False at either end of the list."""
    async with transaction():
        await UnionNode.filter(id=reply.project_id).select_for_update().get()  # type: ignore[attr-defined]
        rows = await replies_for(reply.project_id)  # type: ignore[attr-defined]
        ids = [r.id for r in rows]
        if reply.id not in ids:
            return False
        at = ids.index(reply.id)
        other = at - 1 if direction == Move.UP else at + 1
        if not 0 <= other < len(rows):
            return False
        # Positions renumbered 0… in the new order: gaps left by deletions close as well.
        rows[at], rows[other] = rows[other], rows[at]
        for position, row in enumerate(rows):
            if row.position != position:
                await CannedReply.filter(id=row.id).update(position=position)
    return True
