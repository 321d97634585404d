"""Members (enrolled workers), QR invites and one-time re-bind codes."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.officers import Officer
    from server.models.unions import Team, UnionNode


class MemberStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    LEFT = "left"


class Member(Model):
    id = fields.IntField(primary_key=True)
    # Made on the device (or by the server when JavaScript is off); a replayed POST finds it.
    client_id = fields.UUIDField(unique=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="members", on_delete=fields.RESTRICT
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="members", null=True, on_delete=fields.SET_NULL
    )
    name = fields.CharField(max_length=40)
    phone = fields.CharField(max_length=11)
    trade = fields.CharField(max_length=30)
    employer = fields.CharField(max_length=80, default="")
    hometown = fields.CharField(max_length=60, default="")
    # ID-card number: Fernet ciphertext only; the masked form is kept for lists and exports.
    id_number_enc = fields.TextField(null=True)
    id_number_masked = fields.CharField(max_length=18, default="")
    status = fields.CharEnumField(MemberStatus, max_length=16, default=MemberStatus.PENDING,
                                  db_index=True)
    member_no = fields.CharField(max_length=20, null=True, unique=True)
    liaison: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="liaison_members", null=True, on_delete=fields.SET_NULL
    )
    reviewed_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="reviewed_members", null=True, on_delete=fields.SET_NULL
    )
    reject_reason = fields.CharField(max_length=200, default="")
    # SMS is the worker's own choice (off until they turn it on under 我的); when they chose.
    sms_opt_in = fields.BooleanField(default=False)
    sms_opt_in_at = fields.DatetimeField(null=True)
    enrolled_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="enrolled_members", null=True, on_delete=fields.SET_NULL
    )
    # Bumped when the worker moves to a new phone: the old phone's session stops working.
    session_epoch = fields.IntField(default=0)
    # Keyed hash of the CSRF token of the session that sent the join form: a replay of the
    # form (the outbox after a lost answer) is recognised as the same device's by it.
    enrol_proof = fields.CharField(max_length=64, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    # When the member first became a member of the union (their number dates from then).
    joined_at = fields.DatetimeField(null=True)
    # When the present stretch at this project began, if it began later than joined_at (the
    # member moved here or came back after leaving); figures over time read it.
    project_since = fields.DatetimeField(null=True)
    left_at = fields.DatetimeField(null=True)
    # The last time anyone of the union was in touch (a request event, a notice
    # acknowledgement, a logged visit or call) while the member was at this project: kept
    # here when contact happens so the cadre's list of a hundred needs no scan of events.
    last_contact_at = fields.DatetimeField(null=True)

    class Meta:
        table = "member"
        # One row per phone and project (a member who comes back finds their own record),
        # and besides, a phone is pending or active in one project at a time: a partial
        # UNIQUE index on phone over those two statuses (migration 0011; Tortoise cannot
        # declare partial indexes on SQLite). That index is what keeps concurrent joins
        # and moves at several projects to one member.
        unique_together = (("project", "phone"),)
        indexes = (("project_id", "status"), ("liaison_id", "status"), ("phone",))

    def __str__(self) -> str:
        return self.name


class Invite(Model):
    id = fields.IntField(primary_key=True)
    token = fields.CharField(max_length=32, unique=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="invites", on_delete=fields.CASCADE
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="invites", null=True, on_delete=fields.SET_NULL
    )
    revoked = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "invite"


class RebindCode(Model):
    id = fields.IntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="rebind_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=64, unique=True)
    created_by: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="rebind_codes", on_delete=fields.CASCADE
    )
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "rebind_code"


class MemberClaim(Model):
    """A public join form for a phone that already belongs to a pending or active member of
    the project: kept for a cadre to look into, instead of telling the sender (anyone who
    types a number) that the number is a member."""

    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="claims", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=40)
    trade = fields.CharField(max_length=30)
    employer = fields.CharField(max_length=80, default="")
    hometown = fields.CharField(max_length=60, default="")
    ip = fields.CharField(max_length=45, default="")
    # The project whose poster was scanned, when it is not the member's own: the sender
    # asked to move there (see server.services.moves).
    project: fields.ForeignKeyNullableRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="member_claims", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    resolved_at = fields.DatetimeField(null=True)
    resolved_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="resolved_claims", null=True, on_delete=fields.SET_NULL
    )

    class Meta:
        table = "member_claim"
        indexes = (("member_id", "resolved_at"),)


class MoveKind(StrEnum):
    LEFT = "left"  # 离场: by the member or marked by their cadre or chair
    MOVED = "moved"  # joined another project, proven to be the same person
    REJOINED = "rejoined"  # back at the same project after leaving or a rejection


class MemberMove(Model):
    # One change that ends a member's stretch at a project (a comment, not a docstring:
    # Tortoise copies docstrings into SQL comments). `started_at` is when the stretch began
    # if the member was active in it (null otherwise) and `created_at` when it ended, so
    # the members a project had on any past day are the active members it has now whose
    # stretch began before that day plus these closed stretches that covered it.

    id = fields.BigIntField(primary_key=True)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="moves", on_delete=fields.CASCADE
    )
    kind = fields.CharEnumField(MoveKind, max_length=10)
    from_project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="moves_out", on_delete=fields.RESTRICT
    )
    from_team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="moves_out", null=True, on_delete=fields.SET_NULL
    )
    from_status = fields.CharEnumField(MemberStatus, max_length=16)
    to_project: fields.ForeignKeyNullableRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="moves_in", null=True, on_delete=fields.RESTRICT
    )
    started_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    # The officer who marked the member as left; null when the member did it themselves.
    by_officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="member_moves", null=True, on_delete=fields.SET_NULL
    )
    reason = fields.CharField(max_length=200, default="")
    # The form that made the move (the join form, the leave form): a replay finds it.
    client_id = fields.UUIDField(null=True, unique=True)

    class Meta:
        table = "member_move"
        indexes = (("from_project_id", "created_at"), ("to_project_id", "created_at"),
                   ("member_id", "id"))
