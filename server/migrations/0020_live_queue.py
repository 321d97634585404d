from tortoise import migrations
from tortoise.migrations import operations as ops
from enum import StrEnum
from tortoise import fields

# The enumerations as they were when this migration was written.
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over', 'DUE_SOON': 'due_soon', 'MERGED': 'merged', 'UNLINKED': 'unlinked', 'WAGE_VERIFIED': 'wage_verified', 'WAGE_PROMISED': 'wage_promised', 'WAGE_PARTIAL': 'wage_partial', 'WAGE_PAID': 'wage_paid', 'WAGE_CLAIM': 'wage_claim', 'VIEWED': 'viewed'})

class Migration(migrations.Migration):
    dependencies = [('models', '0019_wage_cases')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over\nDUE_SOON: due_soon\nMERGED: merged\nUNLINKED: unlinked\nWAGE_VERIFIED: wage_verified\nWAGE_PROMISED: wage_promised\nWAGE_PARTIAL: wage_partial\nWAGE_PAID: wage_paid\nWAGE_CLAIM: wage_claim\nVIEWED: viewed', enum_type=EventKind, max_length=20),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='viewed_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
