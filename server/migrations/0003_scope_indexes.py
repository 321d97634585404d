from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0002_requests')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='ServiceRequest',
            name=None,
            fields=['project_path', 'created_at'],
        ),
        ops.AddIndex(
            model_name='ServiceRequest',
            index=Index(fields=['project_id', 'created_at']),
        ),
    ]
