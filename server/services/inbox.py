"""Who an event on a request concerns, their inbox items, and the unread counts.

Called by `server.services.lifecycle` inside the transaction that writes the event, so an
item exists exactly when its event does. Pushes are queued from the same place, one per
(event, recipient, subscription, channel) (see `server.services.delivery`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

from server.db import PRIMARY, id_list
from server.i18n import N_
from server.models import (
    EventKind,
    InboxItem,
    Level,
    Officer,
    RequestEvent,
    Role,
    ServiceRequest,
    UnionNode,
)
from server.services import delivery

# What the worker who filed the request hears about: answers, not internal moves (an
# escalation alone gives them nothing new to read).
WORKER_REASONS: dict[str, str] = {
    EventKind.REPLY: "reply", EventKind.RESOLVED: "resolved", EventKind.DECLINED: "declined",
    EventKind.DUPLICATE: "duplicate", EventKind.MANAGEMENT_REPLY: "management_reply",
    EventKind.WAGE_VERIFIED: "wage_progress", EventKind.WAGE_PROMISED: "wage_progress",
    EventKind.WAGE_PARTIAL: "wage_progress", EventKind.WAGE_PAID: "wage_paid",
    EventKind.PARTNER_REPLY: "partner_reply", EventKind.PARTNER_OUTCOME: "partner_outcome",
    # Asks the worker whether the partner may know who they are (when the officer asked).
    EventKind.PARTNER_REFERRED: "partner_referred",
}
# What the cadre holding the request hears about.
ASSIGNEE_REASONS: dict[str, str] = {
    EventKind.SUBMITTED: "assigned", EventKind.REASSIGNED: "assigned",
    EventKind.REOPENED: "reopened", EventKind.WORKER_REPLY: "follow_up",
    EventKind.AUTO_ESCALATED: "overdue", EventKind.HANDED_OVER: "handed_over",
    EventKind.DUE_SOON: "due_soon",
    EventKind.PARTNER_OUTCOME: "partner_outcome", EventKind.PARTNER_NOTE: "partner_note",
    EventKind.CONSENT: "consent",
}
ESCALATIONS = {EventKind.ESCALATED, EventKind.AUTO_ESCALATED}
# What a partner hears about: a request referred to them (their pages are under /partner).
PARTNER_REASON = "referred_to_you"
REASON_LABELS: dict[str, str] = {
    "reply": N_("你的诉求有新回复"), "resolved": N_("你的诉求已办结"),
    "declined": N_("你的诉求不予受理"), "duplicate": N_("你的诉求与其他诉求合并办理"),
    "management_reply": N_("项目管理人员答复了你的诉求"),
    "assigned": N_("新诉求交给你办理"), "reopened": N_("工友说问题没有解决"),
    "follow_up": N_("工友补充了情况"), "overdue": N_("诉求超时，已自动上报"),
    "escalated_to_me": N_("有诉求上报给你"),
    "handed_over": N_("停用账号的干部手上的诉求交给你办理"),
    "due_soon": N_("有诉求快到办理期限了"),
    "daily_summary": N_("今日汇总"),
    # A shared problem the worker joined ("我也遇到", server.services.shared).
    "shared_update": N_("你也遇到的问题有新进展"),
    "shared_closed": N_("你也遇到的问题有了结果"),
    "wage_progress": N_("你的欠薪诉求有新进展"), "wage_paid": N_("你的欠薪诉求已支付"),
    "partner_reply": N_("协办单位回复了你的诉求"),
    "partner_outcome": N_("协办单位记录了办理结果"),
    "partner_referred": N_("你的诉求转给了外部协办单位"),
    "partner_note": N_("协办单位写了备注"), "consent": N_("工友答复了是否告知身份"),
    "filed_for_you": N_("工会干部替你提交了诉求"),
    PARTNER_REASON: N_("工会转来一条诉求请你们协办"),
}


def worker_reason(kind: str, detail: dict[str, object] | None) -> str:
    """Why the filer hears of an event of this kind ("" when they do not)."""
    if kind == EventKind.SUBMITTED and detail and detail.get("on_behalf"):
        return "filed_for_you"  # a cadre filed it for them: it is there to follow
    return WORKER_REASONS.get(kind, "")


@dataclass(frozen=True)
class Recipients:
    member_id: int | None
    officer_ids: tuple[int, ...]
    officer_reason: str
    member_reason: str = ""


async def _escalation_officers(project_id: int, level: str,
                               conn: BaseDBAsyncClient | None) -> list[int]:
    """The officers a request escalated to `level` now waits on: the project's chairs, or the
    upper-union officers of the nearest node above the project that has any."""
    if level == Level.CHAIR:
        query = Officer.filter(union_id=project_id, role=Role.CHAIR, active=True)
        rows = await (query.using_db(conn) if conn else query).values_list("id", flat=True)
        return [int(r) for r in rows]  # type: ignore[call-overload]
    node_query = UnionNode.filter(id=project_id)
    project = await (node_query.using_db(conn) if conn else node_query).first()
    if project is None:
        return []
    ancestors = [int(part) for part in project.path.strip("/").split("/")[:-1] if part]
    query = Officer.filter(union_id__in=ancestors, role=Role.UPPER, active=True)
    rows = await (query.using_db(conn) if conn else query).values_list("id", "union_id")
    if not rows:
        return []
    depth = {node_id: i for i, node_id in enumerate(ancestors)}
    nearest = max(depth[union_id] for _, union_id in rows)
    return [officer_id for officer_id, union_id in rows if depth[union_id] == nearest]


@dataclass(frozen=True)
class EscalationTarget:
    """Who a request escalated to `level` would wait on, as 上报 names them beforehand."""
    level: Level
    officers: tuple[str, ...]  # the chairs' names (chair level)
    union: str  # the upper union's name (upper level)


async def escalation_target(project_id: int, level: Level) -> EscalationTarget:
    """The names behind `_escalation_officers`: the same people the escalation's inbox
    items will go to, so the button says where it sends."""
    ids = await _escalation_officers(project_id, level, None)
    rows = await Officer.filter(id__in=ids).order_by("id").select_related("union")
    names = tuple(o.name for o in rows) if level == Level.CHAIR else ()
    union = rows[0].union.name if rows and level == Level.UPPER else ""
    return EscalationTarget(level, names, union)


async def recipients(request: ServiceRequest, event: RequestEvent,
                     conn: BaseDBAsyncClient | None = None) -> Recipients:
    kind = str(event.kind)
    member_id = None
    member_reason = worker_reason(kind, event.detail)
    if event.public and not event.by_worker and member_reason:
        member_id = request.member_id  # type: ignore[attr-defined]
    officers: list[int] = []
    reason = ASSIGNEE_REASONS.get(kind, "")
    assignee = request.assignee_id  # type: ignore[attr-defined]
    if reason and assignee is not None:
        officers.append(assignee)
    if kind == EventKind.PARTNER_REFERRED and event.detail.get("partner"):
        # The partner it went to: they see nothing else of the project, so they hear of it.
        officers.append(int(str(event.detail["partner"])))
        reason = PARTNER_REASON
    if kind in ESCALATIONS:
        level = str(event.detail.get("to", ""))
        officers += await _escalation_officers(request.project_id,  # type: ignore[attr-defined]
                                               level, conn)
        reason = reason or "escalated_to_me"
    actor = event.actor_id  # type: ignore[attr-defined]
    return Recipients(member_id, tuple(dict.fromkeys(o for o in officers if o != actor)),
                      reason, member_reason)


async def add_items(request: ServiceRequest, event: RequestEvent,
                    conn: BaseDBAsyncClient | None = None) -> None:
    """The inbox items of one event, in the caller's transaction."""
    who = await recipients(request, event, conn)
    rows: list[InboxItem] = []
    if who.member_id is not None:
        rows.append(InboxItem(member_id=who.member_id, request_id=request.id,
                              event_id=event.id, reason=who.member_reason,
                              created_at=event.created_at))
    for officer_id in who.officer_ids:
        rows.append(InboxItem(officer_id=officer_id, request_id=request.id, event_id=event.id,
                              reason=who.officer_reason, created_at=event.created_at))
    if rows:
        await InboxItem.bulk_create(rows, using_db=conn)
        await delivery.enqueue_for_event(conn or connections.get(PRIMARY), event.id)


async def add_filed_items(conn: BaseDBAsyncClient, request_ids: Sequence[int]) -> None:
    """The "assigned" items of requests filed by a batch, from the rows themselves (what
    `add_items` writes for one); idempotent like the events they hang off."""
    if not request_ids:
        return
    ids = id_list(request_ids)
    await conn.execute_query(
        "INSERT INTO inbox_item (officer_id, request_id, event_id, reason, created_at) "  # noqa: S608
        "SELECT r.assignee_id, r.id, e.id, 'assigned', e.created_at "
        "FROM service_request r JOIN request_event e ON e.request_id = r.id "
        f"WHERE r.id IN ({ids}) AND e.kind = '{EventKind.SUBMITTED.value}' "
        "AND r.assignee_id IS NOT NULL ON CONFLICT DO NOTHING")
    await delivery.enqueue_for_requests(conn, list(request_ids))


async def mark_request_read(request_id: int, *, member_id: int | None = None,
                            officer_id: int | None = None) -> None:
    """Opening a request reads every item about it in the opener's inbox."""
    query = InboxItem.filter(request_id=request_id, read_at__isnull=True)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    elif officer_id is not None:
        query = query.filter(officer_id=officer_id)
    else:
        return
    await query.update(read_at=datetime.now(UTC))


async def unread_count(*, member_id: int | None = None, officer_id: int | None = None) -> int:
    if member_id is not None:
        return await InboxItem.filter(member_id=member_id, read_at__isnull=True).count()
    return await InboxItem.filter(officer_id=officer_id, read_at__isnull=True).count()


async def latest(*, member_id: int | None = None, officer_id: int | None = None,
                 limit: int = 50) -> list[InboxItem]:
    query = (InboxItem.filter(member_id=member_id) if member_id is not None
             else InboxItem.filter(officer_id=officer_id))
    return await query.order_by("-id").limit(limit).select_related("request", "summary",
                                                                  "shared_update")
