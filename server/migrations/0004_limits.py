from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_scope_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='LimitCounter',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('bucket', fields.CharField(max_length=100)),
                ('window_start', fields.BigIntField()),
                ('expires', fields.BigIntField(db_index=True)),
                ('hits', fields.IntField(default=0)),
            ],
            options={'table': 'limit_counter', 'app': 'models', 'unique_together': (('bucket', 'window_start'),), 'pk_attr': 'id', 'table_description': 'One fixed window of one rate limit (server.services.limits): bumped by a single'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MemberClaim',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='claims', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=40)),
                ('trade', fields.CharField(max_length=30)),
                ('employer', fields.CharField(default='', max_length=80)),
                ('hometown', fields.CharField(default='', max_length=60)),
                ('ip', fields.CharField(default='', max_length=45)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.ForeignKeyField('models.Officer', source_field='resolved_by_id', null=True, db_constraint=True, to_field='id', related_name='resolved_claims', on_delete=OnDelete.SET_NULL)),
            ],
            options={'table': 'member_claim', 'app': 'models', 'indexes': [Index(fields=['member_id', 'resolved_at'])], 'pk_attr': 'id', 'table_description': 'A public join form for a phone that already belongs to a pending or active member of'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Member',
            name='enrol_proof',
            field=fields.CharField(default='', max_length=64),
        ),
        ops.DeleteModel(name='LoginAttempt'),
    ]
