from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_daily_summary')]

    initial = False

    operations = [
        ops.CreateModel(
            name='NoticePhoto',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.OneToOneField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='photo', on_delete=OnDelete.CASCADE)),
                ('data', fields.BinaryField()),
                ('content_type', fields.CharField(max_length=20)),
                ('size', fields.IntField()),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('upload_sha256', fields.CharField(max_length=64)),
            ],
            options={'table': 'notice_photo', 'app': 'models', 'pk_attr': 'id', 'table_description': "A notice's optional photo (a site map, the pay slip's layout, the typhoon shelter):"},
            bases=['Model'],
        ),
    ]
