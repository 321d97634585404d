from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from enum import StrEnum

# The enumerations as they were when this migration was written.
Channel = StrEnum('Channel', {'PUSH': 'push', 'SMS': 'sms', 'WECHAT': 'wechat'})
DeliveryStatus = StrEnum('DeliveryStatus', {'QUEUED': 'queued', 'SENDING': 'sending', 'SENT': 'sent', 'FAILED': 'failed', 'DEAD': 'dead'})

class Migration(migrations.Migration):
    dependencies = [('models', '0007_notices_inbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FanoutJob',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='fanout_jobs', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='PUSH: push\nSMS: sms\nWECHAT: wechat', enum_type=Channel, max_length=8)),
                ('after_id', fields.BigIntField(default=0)),
                ('done', fields.BooleanField(default=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'fanout_job', 'app': 'models', 'unique_together': (('notice', 'channel'),), 'indexes': [Index(fields=['done', 'claimed_until'])], 'pk_attr': 'id', 'table_description': 'Expanding a notice into deliveries, in batches, by a worker: publishing to 500,000'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PushSubscription',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='push_subscriptions', on_delete=OnDelete.CASCADE)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='push_subscriptions', on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.CharField(unique=True, max_length=1000)),
                ('p256dh', fields.CharField(max_length=120)),
                ('auth', fields.CharField(max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_success', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('failures', fields.IntField(default=0)),
            ],
            options={'table': 'push_subscription', 'app': 'models', 'indexes': [Index(fields=['member_id']), Index(fields=['officer_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Delivery',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharEnumField(description='PUSH: push\nSMS: sms\nWECHAT: wechat', enum_type=Channel, max_length=8)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('officer', fields.ForeignKeyField('models.Officer', source_field='officer_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('inbox_item', fields.ForeignKeyField('models.InboxItem', source_field='inbox_item_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.CASCADE)),
                ('subscription', fields.ForeignKeyField('models.PushSubscription', source_field='subscription_id', null=True, db_constraint=True, to_field='id', related_name='deliveries', on_delete=OnDelete.SET_NULL)),
                ('status', fields.CharEnumField(default=DeliveryStatus.QUEUED, description='QUEUED: queued\nSENDING: sending\nSENT: sent\nFAILED: failed\nDEAD: dead', enum_type=DeliveryStatus, max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('next_attempt_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('claimed_by', fields.CharField(null=True, max_length=40)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(default='', max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'delivery', 'app': 'models', 'unique_together': (('inbox_item', 'subscription', 'channel'), ('notice', 'subscription', 'channel')), 'indexes': [Index(fields=['status', 'next_attempt_at']), Index(fields=['created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
