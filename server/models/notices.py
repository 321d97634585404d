"""Notices (通知公告) the union publishes, who has read them, and who acknowledged them.

Recipients are never written out: a notice names its scope (a project, a team, a cadre's own
members, or every project below an upper union) and each reader's notices are found from
their own project, team, liaison and the project's ancestors. Publishing to 500,000 members
is one row; a read receipt is one row per reader who opened it, not per recipient.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.unions import Team, UnionNode


class NoticeScope(StrEnum):
    PROJECT = "project"  # every member of the project (`union`)
    TEAM = "team"  # the members of one team of the project
    MINE = "mine"  # the members whose liaison is the author (a cadre's ~100)
    BELOW = "below"  # every project under an upper union (`union`)


class NoticeKind(StrEnum):
    WAGES = "wages"  # 工资发放: pay date, amount
    SAFETY = "safety"  # 安全提醒
    EVENT = "event"  # 活动
    STUDY = "study"  # 学习/政策
    OTHER = "other"


class Notice(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    author: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="notices", on_delete=fields.RESTRICT)
    union: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="notices", on_delete=fields.RESTRICT)
    scope = fields.CharEnumField(NoticeScope, max_length=10)
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="notices", null=True, on_delete=fields.SET_NULL)
    # For MINE: the cadre whose members receive it (the author when it was written).
    liaison: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="liaison_notices", null=True,
        on_delete=fields.SET_NULL)
    kind = fields.CharEnumField(NoticeKind, max_length=10)
    title = fields.CharField(max_length=60)
    body = fields.TextField()
    pinned = fields.BooleanField(default=False)
    needs_ack = fields.BooleanField(default=False)
    expires_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notice"
        indexes = (("union_id", "scope", "created_at"), ("team_id", "created_at"),
                   ("liaison_id", "created_at"))

    def __str__(self) -> str:
        return self.title


class NoticePhoto(Model):
    """A notice's optional photo (a site map, the pay slip's layout, the typhoon shelter):
    checked and re-encoded like a request's (`server.services.photos`), kept in the database
    like them, in a table of its own so notice lists never read the bytes."""

    id = fields.IntField(primary_key=True)
    notice: fields.OneToOneRelation[Notice] = fields.OneToOneField(
        "models.Notice", related_name="photo", on_delete=fields.CASCADE)
    data = fields.BinaryField()
    content_type = fields.CharField(max_length=20)
    size = fields.IntField()
    width = fields.IntField()
    height = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    # Hash of the bytes as uploaded: a replay from the outbox carries the same photo.
    upload_sha256 = fields.CharField(max_length=64)

    class Meta:
        table = "notice_photo"


class NoticeRead(Model):
    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="reads", on_delete=fields.CASCADE)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notice_reads", on_delete=fields.CASCADE)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notice_read"
        unique_together = (("notice", "member"),)
        indexes = (("member_id", "notice_id"),)


class NoticeAck(Model):
    # 我已知晓: a separate row from the read, made by a form the outbox may replay.
    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="acks", on_delete=fields.CASCADE)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="notice_acks", on_delete=fields.CASCADE)
    client_id = fields.UUIDField(unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "notice_ack"
        unique_together = (("notice", "member"),)
