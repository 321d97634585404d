from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint

# The enumerations as they were when this migration was written.
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over', 'DUE_SOON': 'due_soon', 'MERGED': 'merged', 'UNLINKED': 'unlinked'})
SharedStatus = StrEnum('SharedStatus', {'OPEN': 'open', 'CLOSED': 'closed'})

class Migration(migrations.Migration):
    dependencies = [('models', '0016_voice_office')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SharedProblem',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='shared_problems', on_delete=OnDelete.RESTRICT)),
                ('title', fields.CharField(max_length=60)),
                ('summary', fields.TextField(default='', unique=False)),
                ('status', fields.CharEnumField(default=SharedStatus.OPEN, description='OPEN: open\nCLOSED: closed', enum_type=SharedStatus, max_length=8)),
                ('outcome', fields.TextField(default='', unique=False)),
                ('created_by', fields.ForeignKeyField('models.Officer', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='shared_problems', on_delete=OnDelete.SET_NULL)),
                ('source_request', fields.ForeignKeyField('models.ServiceRequest', source_field='source_request_id', null=True, db_constraint=True, to_field='id', related_name='shared_problems', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shared_problem', 'app': 'models', 'indexes': [Index(fields=['project_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SharedJoin',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('problem', fields.ForeignKeyField('models.SharedProblem', source_field='problem_id', db_constraint=True, to_field='id', related_name='joins', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='shared_joins', on_delete=OnDelete.CASCADE)),
                ('client_id', fields.UUIDField(unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shared_join', 'app': 'models', 'unique_together': (('problem', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SharedUpdate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('problem', fields.ForeignKeyField('models.SharedProblem', source_field='problem_id', db_constraint=True, to_field='id', related_name='updates', on_delete=OnDelete.CASCADE)),
                ('closed', fields.BooleanField(default=False)),
                ('note', fields.TextField(unique=False)),
                ('actor', fields.ForeignKeyField('models.Officer', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='shared_updates', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'shared_update', 'app': 'models', 'indexes': [Index(fields=['problem_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='InboxItem',
            name='shared_update',
            field=fields.ForeignKeyField('models.SharedUpdate', source_field='shared_update_id', null=True, db_constraint=True, to_field='id', related_name='inbox_items', on_delete=OnDelete.CASCADE),
        ),
        ops.AddConstraint(
            model_name='InboxItem',
            constraint=UniqueConstraint(fields=('shared_update', 'member'), name=None),
        ),
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over\nDUE_SOON: due_soon\nMERGED: merged\nUNLINKED: unlinked', enum_type=EventKind, max_length=20),
        ),
    ]
