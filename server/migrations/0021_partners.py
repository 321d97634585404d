from enum import StrEnum
from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

Role = StrEnum('Role', {'ADMIN': 'admin', 'UPPER': 'upper', 'CHAIR': 'chair', 'CADRE': 'cadre', 'MANAGER': 'manager', 'PARTNER': 'partner'})
PartnerKind = StrEnum('PartnerKind', {'LEGAL_AID': 'legal_aid', 'HOTLINE': 'hotline', 'MEDIATION': 'mediation', 'COUNSELLING': 'counselling', 'OTHER': 'other'})
Consent = StrEnum('Consent', {'ASKED': 'asked', 'APP': 'app', 'VERBAL': 'verbal', 'REFUSED': 'refused', 'NONE': 'none'})
ReferralOutcome = StrEnum('ReferralOutcome', {'MEDIATED': 'mediated', 'ARBITRATION': 'arbitration', 'COURT': 'court', 'WITHDRAWN': 'withdrawn'})
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over', 'DUE_SOON': 'due_soon', 'MERGED': 'merged', 'UNLINKED': 'unlinked', 'WAGE_VERIFIED': 'wage_verified', 'WAGE_PROMISED': 'wage_promised', 'WAGE_PARTIAL': 'wage_partial', 'WAGE_PAID': 'wage_paid', 'WAGE_CLAIM': 'wage_claim', 'VIEWED': 'viewed', 'PARTNER_REFERRED': 'partner_referred', 'PARTNER_REPLY': 'partner_reply', 'PARTNER_NOTE': 'partner_note', 'PARTNER_OUTCOME': 'partner_outcome', 'CONSENT': 'consent'})


class Migration(migrations.Migration):
    dependencies = [('models', '0020_live_queue')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PartnerProfile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('officer', fields.OneToOneField('models.Officer', source_field='officer_id', db_constraint=True, to_field='id', related_name='partner_profile', on_delete=OnDelete.CASCADE)),
                ('organisation', fields.CharField(max_length=60)),
                ('kind', fields.CharEnumField(description='LEGAL_AID: legal_aid\nHOTLINE: hotline\nMEDIATION: mediation\nCOUNSELLING: counselling\nOTHER: other', enum_type=PartnerKind, max_length=12)),
            ],
            options={'table': 'partner_profile', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Referral',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_id', fields.UUIDField(unique=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.CASCADE)),
                ('partner', fields.ForeignKeyField('models.Officer', source_field='partner_id', db_constraint=True, to_field='id', related_name='referrals_received', on_delete=OnDelete.RESTRICT)),
                ('created_by', fields.ForeignKeyField('models.Officer', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='referrals_made', on_delete=OnDelete.SET_NULL)),
                ('consent', fields.CharEnumField(description='ASKED: asked\nAPP: app\nVERBAL: verbal\nREFUSED: refused\nNONE: none', enum_type=Consent, max_length=8)),
                ('consent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('open_key', fields.BooleanField(null=True, default=True)),
                ('outcome', fields.CharEnumField(null=True, description='MEDIATED: mediated\nARBITRATION: arbitration\nCOURT: court\nWITHDRAWN: withdrawn', enum_type=ReferralOutcome, max_length=12)),
                ('amount_recovered', fields.IntField(null=True)),
                ('outcome_note', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referral', 'app': 'models', 'unique_together': (('request', 'partner', 'open_key'),), 'indexes': [Index(fields=['partner_id', 'closed_at'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Officer',
            name='role',
            field=fields.CharEnumField(description='ADMIN: admin\nUPPER: upper\nCHAIR: chair\nCADRE: cadre\nMANAGER: manager\nPARTNER: partner', enum_type=Role, max_length=16),
        ),
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over\nDUE_SOON: due_soon\nMERGED: merged\nUNLINKED: unlinked\nWAGE_VERIFIED: wage_verified\nWAGE_PROMISED: wage_promised\nWAGE_PARTIAL: wage_partial\nWAGE_PAID: wage_paid\nWAGE_CLAIM: wage_claim\nVIEWED: viewed\nPARTNER_REFERRED: partner_referred\nPARTNER_REPLY: partner_reply\nPARTNER_NOTE: partner_note\nPARTNER_OUTCOME: partner_outcome\nCONSENT: consent', enum_type=EventKind, max_length=20),
        ),
    ]
