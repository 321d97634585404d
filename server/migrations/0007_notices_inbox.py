from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The enumerations as they were when this migration was written.
NoticeScope = StrEnum('NoticeScope', {'PROJECT': 'project', 'TEAM': 'team', 'MINE': 'mine', 'BELOW': 'below'})
NoticeKind = StrEnum('NoticeKind', {'WAGES': 'wages', 'SAFETY': 'safety', 'EVENT': 'event', 'STUDY': 'study', 'OTHER': 'other'})

class Migration(migrations.Migration):
    dependencies = [('models', '0006_drop_project_path')]

    initial = False

    operations = [
        ops.CreateModel(
            name='InboxItem',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.CASCADE)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='inbox', on_delete=OnDelete.CASCADE)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE)),
                ('event', fields.ForeignKeyField('models.RequestEvent', source_field='event_id', db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE)),
                ('reason', fields.CharField(max_length=24)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbox_item', 'app': 'models', 'unique_together': (('event', 'member'), ('event', 'officer')), 'indexes': [Index(fields=['member_id', 'read_at']), Index(fields=['officer_id', 'read_at']), Index(fields=['request_id', 'member_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('author', fields.ForeignKeyField('models.Officer', source_field='author_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.RESTRICT)),
                ('union', fields.ForeignKeyField('models.UnionNode', source_field='union_id', db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.RESTRICT)),
                ('scope', fields.CharEnumField(description='PROJECT: project\nTEAM: team\nMINE: mine\nBELOW: below', enum_type=NoticeScope, max_length=10)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='notices', on_delete=OnDelete.SET_NULL)),
                ('liaison', fields.ForeignKeyField('models.Officer', source_field='liaison_id', null=True, db_constraint=True, to_field='id', related_name='liaison_notices', on_delete=OnDelete.SET_NULL)),
                ('kind', fields.CharEnumField(description='WAGES: wages\nSAFETY: safety\nEVENT: event\nSTUDY: study\nOTHER: other', enum_type=NoticeKind, max_length=10)),
                ('title', fields.CharField(max_length=60)),
                ('body', fields.TextField(unique=False)),
                ('pinned', fields.BooleanField(default=False)),
                ('needs_ack', fields.BooleanField(default=False)),
                ('expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice', 'app': 'models', 'indexes': [Index(fields=['union_id', 'scope', 'created_at']), Index(fields=['team_id', 'created_at']), Index(fields=['liaison_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeAck',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='acks', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='notice_acks', on_delete=OnDelete.CASCADE)),
                ('client_id', fields.UUIDField(unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_ack', 'app': 'models', 'unique_together': (('notice', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NoticeRead',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='reads', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='notice_reads', on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notice_read', 'app': 'models', 'unique_together': (('notice', 'member'),), 'indexes': [Index(fields=['member_id', 'notice_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
