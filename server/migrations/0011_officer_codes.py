from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from enum import StrEnum

# Frozen here: a migration describes the schema as it was (tests/test_platform.py).
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over'})

class Migration(migrations.Migration):
    dependencies = [('models', '0010_sms')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PasswordCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', db_constraint=True, to_field='id', related_name='password_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('models.Officer', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='issued_password_codes', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'password_code', 'app': 'models', 'indexes': [Index(fields=['officer_id', 'used_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over', enum_type=EventKind, max_length=20),
        ),
    ]
