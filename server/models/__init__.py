"""Lianxin's data model. Tortoise discovers the classes listed in `__models__`."""

from server.models.audit import AuditEntry, LimitCounter
from server.models.canned import CannedReply
from server.models.care import ContactKind, ContactLog
from server.models.delivery import (
    Channel,
    Delivery,
    DeliveryStatus,
    FanoutJob,
    PushSubscription,
    SmsMonth,
)
from server.models.figures import FiguresFiler, FiguresMonth, Headcount, ProjectFigures
from server.models.inbox import DailySummary, InboxItem
from server.models.members import (
    Invite,
    Member,
    MemberClaim,
    MemberMove,
    MemberStatus,
    MoveKind,
    RebindCode,
)
from server.models.notices import (
    Notice,
    NoticeAck,
    NoticeKind,
    NoticePhoto,
    NoticeRead,
    NoticeScope,
)
from server.models.officers import Officer, PasswordCode, Role
from server.models.partners import (
    Consent,
    PartnerKind,
    PartnerProfile,
    Referral,
    ReferralOutcome,
)
from server.models.requests import (
    Anonymity,
    Category,
    CategoryDeadline,
    EventKind,
    HeardBy,
    Level,
    RequestEvent,
    RequestPhoto,
    RequestVoice,
    ServiceRequest,
    Status,
    Urgency,
    WageClaim,
    WageStage,
)
from server.models.rota import DutyDay
from server.models.sessions import Session, SessionKind
from server.models.shared import SharedJoin, SharedProblem, SharedStatus, SharedUpdate
from server.models.unions import NodeKind, Team, UnionNode

__models__ = [
    UnionNode, Team, Officer, Member, MemberClaim, Invite, RebindCode, AuditEntry,
    LimitCounter, ServiceRequest, RequestPhoto, RequestEvent, RequestVoice, CategoryDeadline,
    Notice,
    NoticeRead, NoticeAck, InboxItem, Session, PushSubscription, Delivery, FanoutJob,
    SmsMonth,
    DutyDay, PasswordCode, DailySummary, NoticePhoto,
    MemberMove, ContactLog,
    ProjectFigures, FiguresMonth, FiguresFiler, Headcount,
    SharedProblem, SharedJoin, SharedUpdate,
    CannedReply,
    WageClaim,
    PartnerProfile, Referral,
]

__all__ = [
    "Anonymity",
    "AuditEntry",
    "CannedReply",
    "Category",
    "CategoryDeadline",
    "Channel",
    "Consent",
    "ContactKind",
    "ContactLog",
    "DailySummary",
    "Delivery",
    "DeliveryStatus",
    "DutyDay",
    "EventKind",
    "FanoutJob",
    "FiguresFiler",
    "FiguresMonth",
    "Headcount",
    "HeardBy",
    "InboxItem",
    "Invite",
    "Level",
    "LimitCounter",
    "Member",
    "MemberClaim",
    "MemberMove",
    "MemberStatus",
    "MoveKind",
    "NodeKind",
    "Notice",
    "NoticeAck",
    "NoticeKind",
    "NoticePhoto",
    "NoticeRead",
    "NoticeScope",
    "Officer",
    "PartnerKind",
    "PartnerProfile",
    "PasswordCode",
    "ProjectFigures",
    "PushSubscription",
    "RebindCode",
    "Referral",
    "ReferralOutcome",
    "RequestEvent",
    "RequestPhoto",
    "RequestVoice",
    "Role",
    "ServiceRequest",
    "Session",
    "SessionKind",
    "SharedJoin",
    "SharedProblem",
    "SharedStatus",
    "SharedUpdate",
    "SmsMonth",
    "Status",
    "Team",
    "UnionNode",
    "Urgency",
    "WageClaim",
    "WageStage",
]
