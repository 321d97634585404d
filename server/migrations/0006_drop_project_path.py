from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0005_sessions')]

    initial = False

    operations = [
        ops.RemoveField(model_name='ServiceRequest', name='project_path'),
    ]
