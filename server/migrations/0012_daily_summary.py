from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint

# The enumerations as they were when this migration was written.
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over', 'DUE_SOON': 'due_soon'})

class Migration(migrations.Migration):
    dependencies = [('models', '0011_officer_codes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DailySummary',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='daily_summaries', on_delete=OnDelete.CASCADE)),
                ('day', fields.DateField()),
                ('figures', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'daily_summary', 'app': 'models', 'unique_together': (('project', 'day'),), 'pk_attr': 'id', 'table_description': "每日汇总: a project's figures as they stood on the morning of `day` (Beijing time),"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='InboxItem',
            name='event',
            field=fields.ForeignKeyField('models.RequestEvent', source_field='event_id', null=True, db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='InboxItem',
            name='request',
            field=fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', null=True, db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='InboxItem',
            name='summary',
            field=fields.ForeignKeyField('models.DailySummary', source_field='summary_id', null=True, db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE),
        ),
        ops.AddConstraint(
            model_name='InboxItem',
            constraint=UniqueConstraint(fields=('summary', 'officer'), name=None),
        ),
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over\nDUE_SOON: due_soon', enum_type=EventKind, max_length=20),
        ),
    ]
