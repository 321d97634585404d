from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The enumerations as they were when this migration was written: a migration must not
# change meaning when the models' enums change later.
Anonymity = StrEnum('Anonymity', {'MANAGEMENT': 'management', 'ALL': 'all'})
Category = StrEnum('Category', {'WAGES': 'wages', 'SAFETY': 'safety', 'LIVING': 'living', 'FAMILY_VISIT': 'family_visit', 'TRAVEL_HOME': 'travel_home', 'LEGAL': 'legal', 'HEALTH': 'health', 'COUNSELLING': 'counselling', 'TRAINING': 'training', 'SUGGESTION': 'suggestion', 'OTHER': 'other'})
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned'})
Level = StrEnum('Level', {'CADRE': 'cadre', 'CHAIR': 'chair', 'UPPER': 'upper'})
Status = StrEnum('Status', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'IN_PROGRESS': 'in_progress', 'RESOLVED': 'resolved', 'CLOSED': 'closed', 'DECLINED': 'declined'})
Urgency = StrEnum('Urgency', {'NORMAL': 'normal', 'URGENT': 'urgent'})


class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CategoryDeadline',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='deadlines', on_delete=OnDelete.CASCADE)),
                ('category', fields.CharEnumField(description='WAGES: wages\nSAFETY: safety\nLIVING: living\nFAMILY_VISIT: family_visit\nTRAVEL_HOME: travel_home\nLEGAL: legal\nHEALTH: health\nCOUNSELLING: counselling\nTRAINING: training\nSUGGESTION: suggestion\nOTHER: other', enum_type=Category, max_length=20)),
                ('ack_hours', fields.IntField()),
                ('resolve_workdays', fields.IntField()),
            ],
            options={'table': 'category_deadline', 'app': 'models', 'unique_together': (('project', 'category'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ServiceRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.RESTRICT)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='requests', on_delete=OnDelete.RESTRICT)),
                ('project_path', fields.CharField(db_index=True, max_length=255)),
                ('category', fields.CharEnumField(description='WAGES: wages\nSAFETY: safety\nLIVING: living\nFAMILY_VISIT: family_visit\nTRAVEL_HOME: travel_home\nLEGAL: legal\nHEALTH: health\nCOUNSELLING: counselling\nTRAINING: training\nSUGGESTION: suggestion\nOTHER: other', enum_type=Category, max_length=20)),
                ('description', fields.TextField(unique=False)),
                ('urgency', fields.CharEnumField(default=Urgency.NORMAL, description='NORMAL: normal\nURGENT: urgent', enum_type=Urgency, max_length=10)),
                ('anonymity', fields.CharEnumField(default=Anonymity.MANAGEMENT, description='MANAGEMENT: management\nALL: all', enum_type=Anonymity, max_length=12)),
                ('status', fields.CharEnumField(default=Status.SUBMITTED, description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nIN_PROGRESS: in_progress\nRESOLVED: resolved\nCLOSED: closed\nDECLINED: declined', enum_type=Status, max_length=14)),
                ('level', fields.CharEnumField(default=Level.CADRE, description='CADRE: cadre\nCHAIR: chair\nUPPER: upper', enum_type=Level, max_length=8)),
                ('assignee', fields.ForeignKeyField('models.Officer', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='assigned_requests', on_delete=OnDelete.SET_NULL)),
                ('referred', fields.BooleanField(default=False)),
                ('duplicate_of', fields.ForeignKeyField('models.ServiceRequest', source_field='duplicate_of_id', null=True, db_constraint=True, to_field='id', related_name='duplicates', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('ack_due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('resolve_due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('level_due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('acknowledged_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('ack_seconds', fields.IntField(null=True)),
                ('resolve_seconds', fields.IntField(null=True)),
                ('resolved_on_time', fields.BooleanField(null=True)),
                ('resolution', fields.TextField(default='', unique=False)),
                ('rating', fields.SmallIntField(null=True)),
                ('rating_comment', fields.CharField(default='', max_length=300)),
                ('last_event_id', fields.BigIntField(default=0)),
                ('worker_seen_event_id', fields.BigIntField(default=0)),
                ('last_public_event_id', fields.BigIntField(default=0)),
            ],
            options={'table': 'service_request', 'app': 'models', 'indexes': [Index(fields=['project_id', 'status']), Index(fields=['assignee_id', 'status']), Index(fields=['status', 'level_due_at']), Index(fields=['project_path', 'created_at']), Index(fields=['member_id', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RequestEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned', enum_type=EventKind, max_length=20)),
                ('actor', fields.ForeignKeyField('models.Officer', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='request_events', on_delete=OnDelete.SET_NULL)),
                ('by_worker', fields.BooleanField(default=False)),
                ('public', fields.BooleanField(default=True)),
                ('note', fields.TextField(default='', unique=False)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('client_id', fields.UUIDField(null=True, unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'request_event', 'app': 'models', 'indexes': [Index(fields=['request_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RequestPhoto',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='photos', on_delete=OnDelete.CASCADE)),
                ('data', fields.BinaryField()),
                ('content_type', fields.CharField(max_length=20)),
                ('size', fields.IntField()),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('upload_sha256', fields.CharField(max_length=64)),
            ],
            options={'table': 'request_photo', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
