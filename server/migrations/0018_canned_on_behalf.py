"""Requests a cadre filed on a worker's behalf (who, how they heard it, when the worker's
consent was recorded) and each project's canned replies (常用回复)."""

from enum import StrEnum

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

# The enumeration as it was when this migration was written.
HeardBy = StrEnum('HeardBy', {'IN_PERSON': 'in_person', 'PHONE': 'phone'})


class Migration(migrations.Migration):
    dependencies = [('models', '0017_shared_problems')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ServiceRequest',
            name='on_behalf_by',
            field=fields.ForeignKeyField('models.Officer', source_field='on_behalf_by_id', null=True, db_constraint=True, to_field='id', related_name='filed_on_behalf', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='on_behalf_channel',
            field=fields.CharEnumField(description='IN_PERSON: in_person\nPHONE: phone', enum_type=HeardBy, max_length=10, null=True),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='on_behalf_consent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.CreateModel(
            name='CannedReply',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='canned_replies', on_delete=OnDelete.CASCADE)),
                ('position', fields.IntField()),
                ('text', fields.CharField(max_length=200)),
                ('updated_by', fields.ForeignKeyField('models.Officer', source_field='updated_by_id', null=True, db_constraint=True, to_field='id', related_name='canned_replies', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'canned_reply', 'app': 'models', 'indexes': [Index(fields=['project_id', 'position'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
