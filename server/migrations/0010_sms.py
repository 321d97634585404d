from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_duty_rota')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SmsMonth',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('month', fields.CharField(unique=True, max_length=7)),
                ('messages', fields.IntField(default=0)),
                ('fen', fields.BigIntField(default=0)),
            ],
            options={'table': 'sms_month', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What SMS cost this month: bumped in the transaction that marks messages sent.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Delivery',
            name='once_key',
            field=fields.CharField(null=True, unique=True, max_length=40),
        ),
        ops.AddField(
            model_name='Member',
            name='sms_opt_in',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Member',
            name='sms_opt_in_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
