"""Lianxin's data model. Tortoise discovers the classes listed in `__models__`."""

from server.models.audit import AuditEntry, LoginAttempt
from server.models.delivery import (
    Channel,
    Delivery,
    DeliveryStatus,
    FanoutJob,
    PushSubscription,
)
from server.models.inbox import InboxItem
from server.models.members import Invite, Member, MemberStatus, RebindCode
from server.models.notices import Notice, NoticeAck, NoticeKind, NoticeRead, NoticeScope
from server.models.officers import Officer, Role
from server.models.requests import (
    Anonymity,
    Category,
    CategoryDeadline,
    EventKind,
    Level,
    RequestEvent,
    RequestPhoto,
    ServiceRequest,
    Status,
    Urgency,
)
from server.models.unions import NodeKind, Team, UnionNode

__models__ = [
    UnionNode, Team, Officer, Member, Invite, RebindCode, AuditEntry, LoginAttempt,
    ServiceRequest, RequestPhoto, RequestEvent, CategoryDeadline, Notice, NoticeRead,
    NoticeAck, InboxItem, PushSubscription, Delivery, FanoutJob,
]

__all__ = [
    "Anonymity",
    "AuditEntry",
    "Category",
    "CategoryDeadline",
    "Channel",
    "Delivery",
    "DeliveryStatus",
    "EventKind",
    "FanoutJob",
    "InboxItem",
    "Invite",
    "Level",
    "LoginAttempt",
    "Member",
    "MemberStatus",
    "NodeKind",
    "Notice",
    "NoticeAck",
    "NoticeKind",
    "NoticeRead",
    "NoticeScope",
    "Officer",
    "PushSubscription",
    "RebindCode",
    "RequestEvent",
    "RequestPhoto",
    "Role",
    "ServiceRequest",
    "Status",
    "Team",
    "UnionNode",
    "Urgency",
]
