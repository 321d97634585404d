from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0015_figures')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RequestVoice',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='voices', on_delete=OnDelete.CASCADE)),
                ('event', fields.OneToOneField('models.RequestEvent', source_field='event_id', db_constraint=True, to_field='id', related_name='voice', on_delete=OnDelete.CASCADE)),
                ('data', fields.BinaryField()),
                ('content_type', fields.CharField(max_length=20)),
                ('size', fields.IntField()),
                ('duration_ms', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'request_voice', 'app': 'models', 'indexes': [Index(fields=['request_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='UnionNode',
            name='office_address',
            field=fields.CharField(default='', db_default='', max_length=120),
        ),
        ops.AddField(
            model_name='UnionNode',
            name='office_phone',
            field=fields.CharField(default='', db_default='', max_length=20),
        ),
    ]
