"""Lianxin's data model. Tortoise discovers the classes listed in `__models__`."""

from server.models.audit import AuditEntry, LoginAttempt
from server.models.members import Invite, Member, MemberStatus, RebindCode
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
from server.models.sessions import Session, SessionKind
from server.models.unions import NodeKind, Team, UnionNode

__models__ = [
    UnionNode, Team, Officer, Member, Invite, RebindCode, AuditEntry, LoginAttempt,
    ServiceRequest, RequestPhoto, RequestEvent, CategoryDeadline, Session,
]

__all__ = [
    "Anonymity",
    "AuditEntry",
    "Category",
    "CategoryDeadline",
    "EventKind",
    "Invite",
    "Level",
    "LoginAttempt",
    "Member",
    "MemberStatus",
    "NodeKind",
    "Officer",
    "RebindCode",
    "RequestEvent",
    "RequestPhoto",
    "Role",
    "ServiceRequest",
    "Session",
    "SessionKind",
    "Status",
    "Team",
    "UnionNode",
    "Urgency",
]
