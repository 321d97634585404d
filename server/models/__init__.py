"""Lianxin's data model. Tortoise discovers the classes listed in `__models__`."""

from server.models.audit import AuditEntry, LimitCounter
from server.models.delivery import (
    Channel,
    Delivery,
    DeliveryStatus,
    FanoutJob,
    PushSubscription,
    SmsMonth,
)
from server.models.inbox import InboxItem
from server.models.members import Invite, Member, MemberClaim, MemberStatus, RebindCode
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
    RequestVoice,
    ServiceRequest,
    Status,
    Urgency,
)
from server.models.rota import DutyDay
from server.models.sessions import Session, SessionKind
from server.models.unions import NodeKind, Team, UnionNode

__models__ = [
    UnionNode, Team, Officer, Member, MemberClaim, Invite, RebindCode, AuditEntry,
    LimitCounter, ServiceRequest, RequestPhoto, RequestEvent, RequestVoice, CategoryDeadline,
    Notice,
    NoticeRead, NoticeAck, InboxItem, Session, PushSubscription, Delivery, FanoutJob,
    SmsMonth,
    DutyDay,
]

__all__ = [
    "Anonymity",
    "AuditEntry",
    "Category",
    "CategoryDeadline",
    "Channel",
    "Delivery",
    "DeliveryStatus",
    "DutyDay",
    "EventKind",
    "FanoutJob",
    "InboxItem",
    "Invite",
    "Level",
    "LimitCounter",
    "Member",
    "MemberClaim",
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
    "RequestVoice",
    "Role",
    "ServiceRequest",
    "Session",
    "SessionKind",
    "SmsMonth",
    "Status",
    "Team",
    "UnionNode",
    "Urgency",
]
