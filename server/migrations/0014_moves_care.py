"""Members who leave and move (member_move, the partial UNIQUE index on a live phone) and
the duty of care (contact_log, member.last_contact_at)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# The enumerations as they were when this migration was written.
ContactKind = StrEnum('ContactKind', {'VISIT': 'visit', 'CALL': 'call'})
MemberStatus = StrEnum('MemberStatus', {'PENDING': 'pending', 'ACTIVE': 'active', 'REJECTED': 'rejected', 'LEFT': 'left'})
MoveKind = StrEnum('MoveKind', {'LEFT': 'left', 'MOVED': 'moved', 'REJOINED': 'rejoined'})

LIVE_PHONE_INDEX = (
    "CREATE UNIQUE INDEX member_live_phone ON member (phone) "
    "WHERE status IN ('pending', 'active')")


DUPLICATE = (
    "status IN ('pending', 'active') AND EXISTS (SELECT 1 FROM member n "
    "WHERE n.phone = member.phone AND n.status IN ('pending', 'active') AND n.id > member.id)")


async def close_older_duplicates(apps: Any, schema_editor: Any) -> None:
    """Before this migration the same phone could join two projects as two members. A
    member is now in one project at a time: of the pending or active rows sharing a phone,
    the newest (the project the worker went to last) stays, and the older ones are closed
    as left, each with its member_move row, so the index below can be built and figures
    over time still count the old stretch. Two set-based statements, however many."""
    client = schema_editor.client
    pg = client.capabilities.dialect == "postgres"
    now, reason = ("CAST($1 AS TIMESTAMPTZ)", "$2") if pg else ("?", "?")
    when = datetime.now(UTC)
    await client.execute_query(
        "INSERT INTO member_move (member_id, kind, from_project_id, from_team_id, "
        "from_status, to_project_id, started_at, created_at, by_officer_id, reason, "
        "client_id) SELECT id, 'left', project_id, team_id, status, NULL, "
        f"CASE WHEN status = 'active' THEN joined_at END, {now}, NULL, {reason}, NULL "
        f"FROM member WHERE {DUPLICATE}",
        [when, "同一手机号后来在另一个项目入会（升级时整理）"])
    await client.execute_query(
        f"UPDATE member SET status = 'left', left_at = {now} WHERE {DUPLICATE}", [when])


class Migration(migrations.Migration):
    dependencies = [('models', '0013_notice_photo')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ContactLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.SET_NULL)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='contacts', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='VISIT: visit\nCALL: call', enum_type=ContactKind, max_length=8)),
                ('note', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'contact_log', 'app': 'models', 'indexes': [Index(fields=['member_id', 'created_at']), Index(fields=['project_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberMove',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='moves', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='LEFT: left\nMOVED: moved\nREJOINED: rejoined', enum_type=MoveKind, max_length=10)),
                ('from_project', fields.ForeignKeyField('models.UnionNode', source_field='from_project_id', db_constraint=True, to_field='id', related_name='moves_out', on_delete=OnDelete.RESTRICT)),
                ('from_team', fields.ForeignKeyField('models.Team', source_field='from_team_id', null=True, db_constraint=True, to_field='id', related_name='moves_out', on_delete=OnDelete.SET_NULL)),
                ('from_status', fields.CharEnumField(description='PENDING: pending\nACTIVE: active\nREJECTED: rejected\nLEFT: left', enum_type=MemberStatus, max_length=16)),
                ('to_project', fields.ForeignKeyField('models.UnionNode', source_field='to_project_id', null=True, db_constraint=True, to_field='id', related_name='moves_in', on_delete=OnDelete.RESTRICT)),
                ('started_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('by_officer', fields.ForeignKeyField('models.Officer', source_field='by_officer_id', null=True, db_constraint=True, to_field='id', related_name='member_moves', on_delete=OnDelete.SET_NULL)),
                ('reason', fields.CharField(default='', max_length=200)),
                ('client_id', fields.UUIDField(null=True, unique=True)),
            ],
            options={'table': 'member_move', 'app': 'models', 'indexes': [Index(fields=['from_project_id', 'created_at']), Index(fields=['to_project_id', 'created_at']), Index(fields=['member_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Member',
            name='last_contact_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Member',
            name='left_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Member',
            name='project_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(
            model_name='Member',
            index=Index(fields=['phone']),
        ),
        ops.AddField(
            model_name='MemberClaim',
            name='project',
            field=fields.ForeignKeyField('models.UnionNode', source_field='project_id', null=True, db_constraint=True, to_field='id', related_name='member_claims', on_delete=OnDelete.CASCADE),
        ),
        ops.RunPython(close_older_duplicates, ops.RunPython.noop),
        # Not declarable on the model (Tortoise refuses partial indexes on SQLite); the same
        # statement works on SQLite and PostgreSQL.
        ops.RunSQL(LIVE_PHONE_INDEX, "DROP INDEX member_live_phone"),
    ]
