from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from enum import StrEnum

# The enumeration as it was when this migration was written.
Category = StrEnum('Category', {'WAGES': 'wages', 'SAFETY': 'safety', 'LIVING': 'living', 'FAMILY_VISIT': 'family_visit', 'TRAVEL_HOME': 'travel_home', 'LEGAL': 'legal', 'HEALTH': 'health', 'COUNSELLING': 'counselling', 'TRAINING': 'training', 'SUGGESTION': 'suggestion', 'OTHER': 'other'})

class Migration(migrations.Migration):
    dependencies = [('models', '0008_delivery')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DutyDay',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='duty_days', on_delete=OnDelete.CASCADE)),
                ('weekday', fields.SmallIntField()),
                ('theme', fields.CharField(default='', max_length=20)),
                ('department', fields.CharField(default='', max_length=30)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='duty_days', on_delete=OnDelete.SET_NULL)),
                ('category', fields.CharEnumField(null=True, description='WAGES: wages\nSAFETY: safety\nLIVING: living\nFAMILY_VISIT: family_visit\nTRAVEL_HOME: travel_home\nLEGAL: legal\nHEALTH: health\nCOUNSELLING: counselling\nTRAINING: training\nSUGGESTION: suggestion\nOTHER: other', enum_type=Category, max_length=20)),
                ('line', fields.CharField(default='', max_length=100)),
            ],
            options={'table': 'duty_day', 'app': 'models', 'unique_together': (('project', 'weekday'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='duty',
            field=fields.CharField(null=True, max_length=30),
        ),
    ]
