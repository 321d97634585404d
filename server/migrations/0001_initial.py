from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

# The enumerations as they were when this migration was written: a migration must not
# change meaning when the models' enums change later.
MemberStatus = StrEnum('MemberStatus', {'PENDING': 'pending', 'ACTIVE': 'active', 'REJECTED': 'rejected', 'LEFT': 'left'})
Role = StrEnum('Role', {'ADMIN': 'admin', 'UPPER': 'upper', 'CHAIR': 'chair', 'CADRE': 'cadre', 'MANAGER': 'manager'})
NodeKind = StrEnum('NodeKind', {'PROVINCE': 'province', 'INDUSTRY': 'industry', 'COMPANY': 'company', 'BRANCH': 'branch', 'PROJECT': 'project'})


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='LoginAttempt',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=64)),
                ('success', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'login_attempt', 'app': 'models', 'indexes': [Index(fields=['key', 'created_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnionNode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('name', fields.CharField(max_length=120)),
                ('kind', fields.CharEnumField(description='PROVINCE: province\nINDUSTRY: industry\nCOMPANY: company\nBRANCH: branch\nPROJECT: project', enum_type=NodeKind, max_length=16)),
                ('parent', fields.ForeignKeyField('models.UnionNode', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('path', fields.CharField(default='/', db_index=True, max_length=255)),
                ('auto_approve', fields.BooleanField(default=False)),
                ('member_seq', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'union_node', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Team',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='teams', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=60)),
            ],
            options={'table': 'team', 'app': 'models', 'unique_together': (('project', 'name'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Invite',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token', fields.CharField(unique=True, max_length=32)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='invites', on_delete=OnDelete.CASCADE)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='invites', on_delete=OnDelete.SET_NULL)),
                ('revoked', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'invite', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Officer',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('phone', fields.CharField(unique=True, max_length=11)),
                ('name', fields.CharField(max_length=40)),
                ('role', fields.CharEnumField(description='ADMIN: admin\nUPPER: upper\nCHAIR: chair\nCADRE: cadre\nMANAGER: manager', enum_type=Role, max_length=16)),
                ('union', fields.ForeignKeyField('models.UnionNode', source_field='union_id', db_constraint=True, to_field='id', related_name='officers', on_delete=OnDelete.RESTRICT)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='cadres', on_delete=OnDelete.SET_NULL)),
                ('password_hash', fields.CharField(max_length=255)),
                ('active', fields.BooleanField(default=True)),
                ('session_epoch', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'officer', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('actor', fields.ForeignKeyField('models.Officer', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='audit_entries', on_delete=OnDelete.SET_NULL)),
                ('action', fields.CharField(db_index=True, max_length=40)),
                ('target_type', fields.CharField(default='', max_length=20)),
                ('target_id', fields.IntField(null=True)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('ip', fields.CharField(default='', max_length=45)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'audit_entry', 'app': 'models', 'indexes': [Index(fields=['target_type', 'target_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Member',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.RESTRICT)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='members', on_delete=OnDelete.SET_NULL)),
                ('name', fields.CharField(max_length=40)),
                ('phone', fields.CharField(max_length=11)),
                ('trade', fields.CharField(max_length=30)),
                ('employer', fields.CharField(default='', max_length=80)),
                ('hometown', fields.CharField(default='', max_length=60)),
                ('id_number_enc', fields.TextField(null=True, unique=False)),
                ('id_number_masked', fields.CharField(default='', max_length=18)),
                ('status', fields.CharEnumField(default=MemberStatus.PENDING, db_index=True, description='PENDING: pending\nACTIVE: active\nREJECTED: rejected\nLEFT: left', enum_type=MemberStatus, max_length=16)),
                ('member_no', fields.CharField(null=True, unique=True, max_length=20)),
                ('liaison', fields.ForeignKeyField('models.Officer', source_field='liaison_id', null=True, db_constraint=True, to_field='id', related_name='liaison_members', on_delete=OnDelete.SET_NULL)),
                ('reviewed_by', fields.ForeignKeyField('models.Officer', source_field='reviewed_by_id', null=True, db_constraint=True, to_field='id', related_name='reviewed_members', on_delete=OnDelete.SET_NULL)),
                ('reject_reason', fields.CharField(default='', max_length=200)),
                ('enrolled_by', fields.ForeignKeyField('models.Officer', source_field='enrolled_by_id', null=True, db_constraint=True, to_field='id', related_name='enrolled_members', on_delete=OnDelete.SET_NULL)),
                ('session_epoch', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('joined_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'member', 'app': 'models', 'unique_together': (('project', 'phone'),), 'indexes': [Index(fields=['project_id', 'status']), Index(fields=['liaison_id', 'status'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RebindCode',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='rebind_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(unique=True, max_length=64)),
                ('created_by', fields.ForeignKeyField('models.Officer', source_field='created_by_id', db_constraint=True, to_field='id', related_name='rebind_codes', on_delete=OnDelete.CASCADE)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'rebind_code', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
