from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from enum import StrEnum


# The enumerations as they were when this migration was written.
EventKind = StrEnum('EventKind', {'SUBMITTED': 'submitted', 'ACKNOWLEDGED': 'acknowledged', 'REPLY': 'reply', 'WORKER_REPLY': 'worker_reply', 'NOTE': 'note', 'ESCALATED': 'escalated', 'AUTO_ESCALATED': 'auto_escalated', 'REFERRED': 'referred', 'MANAGEMENT_REPLY': 'management_reply', 'RESOLVED': 'resolved', 'DECLINED': 'declined', 'DUPLICATE': 'duplicate', 'CONFIRMED': 'confirmed', 'AUTO_CLOSED': 'auto_closed', 'REOPENED': 'reopened', 'RATED': 'rated', 'REASSIGNED': 'reassigned', 'HANDED_OVER': 'handed_over', 'DUE_SOON': 'due_soon', 'MERGED': 'merged', 'UNLINKED': 'unlinked', 'WAGE_VERIFIED': 'wage_verified', 'WAGE_PROMISED': 'wage_promised', 'WAGE_PARTIAL': 'wage_partial', 'WAGE_PAID': 'wage_paid', 'WAGE_CLAIM': 'wage_claim'})
WageStage = StrEnum('WageStage', {'VERIFIED': 'verified', 'PROMISED': 'promised', 'PARTIAL': 'partial', 'PAID': 'paid'})


# --- wage cases in the summary rows: the request triggers of 0015, replaced --------------------
# Frozen copies of the rules in server/services/figure_rows.py as they are now (a migration
# keeps its meaning when the code moves on), the 0015 rules plus four wage columns: a wage
# case (category wages, not declined) adds 1 case, its yuan owed and recovered, and its
# workers affected (a case without a count is its filer alone) to the month it was filed in.
# A duplicate (duplicate_of set) is its master's case, not a second one. The member
# triggers of 0015 are untouched. tests/test_wages.py checks that the rows the
# triggers keep equal the rows figure_rows.rebuild makes.

MONTH = {
    "sqlite": "strftime('%Y-%m', {r}.created_at, '+8 hours')",
    "postgres": "to_char({r}.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}
_WAGE = "{r}.category = 'wages' AND {r}.status <> 'declined' AND {r}.duplicate_of_id IS NULL"
PARTS = {
    "countable": "CASE WHEN {r}.status <> 'declined' THEN 1 ELSE 0 END",
    "done": "CASE WHEN {r}.status IN ('resolved', 'closed') THEN 1 ELSE 0 END",
    "with_due": "CASE WHEN {r}.resolved_on_time IS NULL THEN 0 ELSE 1 END",
    "on_time": "CASE WHEN {r}.resolved_on_time THEN 1 ELSE 0 END",
    "rated": "CASE WHEN {r}.rating IS NULL THEN 0 ELSE 1 END",
    "satisfied": "CASE WHEN {r}.rating >= 4 THEN 1 ELSE 0 END",
    "wage_cases": f"CASE WHEN {_WAGE} THEN 1 ELSE 0 END",
    "wage_owed": f"CASE WHEN {_WAGE} THEN COALESCE({{r}}.amount_owed, 0) ELSE 0 END",
    "wage_recovered": f"CASE WHEN {_WAGE} THEN COALESCE({{r}}.amount_recovered, 0) ELSE 0 END",
    "wage_workers": f"CASE WHEN {_WAGE} THEN COALESCE({{r}}.workers_affected, 1) ELSE 0 END",
}
WAGE_PARTS = ("wage_cases", "wage_owed", "wage_recovered", "wage_workers")
# Columns whose change may change a month's sums (the request's own month stays).
CHANGED = ("status", "rating", "resolved_on_time", "category", "amount_owed",
           "amount_recovered", "workers_affected", "duplicate_of_id")
WATCHED = ", ".join((*CHANGED, "project_id", "member_id", "created_at"))


def _part(name: str, r: str) -> str:
    return "(" + PARTS[name].format(r=r) + ")"


def _where(dialect: str, r: str, table: str = "figures_month") -> str:
    return (f"{table}.project_id = {r}.project_id AND {table}.month = "
            + MONTH[dialect].format(r=r))


def _add_month(dialect: str, r: str) -> str:
    names = list(PARTS)
    values = ", ".join(_part(n, r) for n in names)
    updates = ", ".join(f"{n} = figures_month.{n} + excluded.{n}" for n in names)
    return (f"INSERT INTO figures_month (project_id, month, requests, filers, "
            f"{', '.join(names)}) VALUES ({r}.project_id, {MONTH[dialect].format(r=r)}, 1, 0, "
            f"{values}) ON CONFLICT (project_id, month) DO UPDATE SET "
            f"requests = figures_month.requests + 1, {updates}")


def _filer_key(dialect: str, r: str) -> str:
    return _where(dialect, r, "figures_filer") + f" AND figures_filer.member_id = {r}.member_id"


def _add_filer(r: str, dialect: str) -> str:
    return (f"INSERT INTO figures_filer (project_id, month, member_id, requests) VALUES "
            f"({r}.project_id, {MONTH[dialect].format(r=r)}, {r}.member_id, 1) "
            f"ON CONFLICT (project_id, month, member_id) DO UPDATE SET "
            f"requests = figures_filer.requests + 1")


def _remove(dialect: str, r: str) -> list[str]:
    parts = ", ".join(f"{n} = {n} - {_part(n, r)}" for n in PARTS)
    return [
        f"UPDATE figures_month SET requests = requests - 1, {parts} WHERE {_where(dialect, r)}",
        f"UPDATE figures_filer SET requests = requests - 1 WHERE {_filer_key(dialect, r)}",
        f"UPDATE figures_month SET filers = filers - 1 WHERE {_where(dialect, r)} AND EXISTS "
        f"(SELECT 1 FROM figures_filer WHERE {_filer_key(dialect, r)} AND "
        f"figures_filer.requests <= 0)",
        f"DELETE FROM figures_filer WHERE {_filer_key(dialect, r)} AND requests <= 0",
        f"DELETE FROM figures_month WHERE {_where(dialect, r)} AND requests <= 0",
    ]


def _delta() -> str:
    return ", ".join(f"{n} = {n} + {_part(n, 'NEW')} - {_part(n, 'OLD')}" for n in PARTS)


def sqlite_triggers() -> list[str]:
    d = "sqlite"
    m_old, m_new = MONTH[d].format(r="OLD"), MONTH[d].format(r="NEW")
    same = (f"OLD.project_id = NEW.project_id AND OLD.member_id = NEW.member_id "
            f"AND {m_old} = {m_new}")
    changed = "(" + " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in CHANGED) + ")"
    add_new = [_add_month(d, "NEW"),
               f"UPDATE figures_month SET filers = filers + 1 WHERE {_where(d, 'NEW')} "
               f"AND NOT EXISTS (SELECT 1 FROM figures_filer WHERE {_filer_key(d, 'NEW')})",
               _add_filer("NEW", d)]

    def body(statements: list[str]) -> str:
        return "BEGIN\n  " + ";\n  ".join(statements) + ";\nEND"

    return [
        "DROP TRIGGER IF EXISTS figures_request_insert",
        "DROP TRIGGER IF EXISTS figures_request_update",
        "DROP TRIGGER IF EXISTS figures_request_move",
        "DROP TRIGGER IF EXISTS figures_request_delete",
        "CREATE TRIGGER figures_request_insert AFTER INSERT ON service_request\n"
        + body(add_new),
        f"CREATE TRIGGER figures_request_update AFTER UPDATE OF {WATCHED} ON service_request\n"
        f"WHEN {same} AND {changed}\n"
        + body([f"UPDATE figures_month SET {_delta()} WHERE {_where(d, 'NEW')}"]),
        f"CREATE TRIGGER figures_request_move AFTER UPDATE OF {WATCHED} ON service_request\n"
        f"WHEN NOT ({same})\n" + body([*_remove(d, "OLD"), *add_new]),
        "CREATE TRIGGER figures_request_delete AFTER DELETE ON service_request\n"
        + body(_remove(d, "OLD")),
    ]


def postgres_triggers() -> list[str]:
    d = "postgres"
    m_old, m_new = MONTH[d].format(r="OLD"), MONTH[d].format(r="NEW")
    same = (f"OLD.project_id = NEW.project_id AND OLD.member_id = NEW.member_id "
            f"AND {m_old} = {m_new}")
    changed = "(" + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in CHANGED) + ")"
    add_new = (f"{_add_month(d, 'NEW')};\n    {_add_filer('NEW', d)} RETURNING requests INTO n;\n"
               f"    IF n = 1 THEN UPDATE figures_month SET filers = filers + 1 "
               f"WHERE {_where(d, 'NEW')}; END IF;")
    remove_old = ";\n    ".join(_remove(d, "OLD")) + ";"
    request_fn = f"""
CREATE OR REPLACE FUNCTION figures_request_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n integer;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF {same} THEN
      IF {changed} THEN
        UPDATE figures_month SET {_delta()} WHERE {_where(d, 'NEW')};
      END IF;
      RETURN NULL;
    END IF;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    {remove_old}
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    {add_new}
  END IF;
  RETURN NULL;
END $$"""
    return [
        request_fn,
        "DROP TRIGGER IF EXISTS figures_request ON service_request",
        f"CREATE TRIGGER figures_request AFTER INSERT OR DELETE OR UPDATE OF {WATCHED} "
        "ON service_request FOR EACH ROW EXECUTE FUNCTION figures_request_change()",
    ]


def backfill(dialect: str) -> list[str]:
    """The wage columns of the months already summed (wage requests filed before this
    migration have no amounts yet, but they are cases with their filer affected)."""
    month = MONTH[dialect].format(r="r")
    sets = ", ".join(
        f"{n} = (SELECT COALESCE(SUM({_part(n, 'r')}), 0) FROM service_request r "
        f"WHERE r.project_id = figures_month.project_id AND {month} = figures_month.month)"
        for n in WAGE_PARTS)
    return [f"UPDATE figures_month SET {sets}"]


async def install(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    dialect = client.capabilities.dialect
    for sql in (postgres_triggers() if dialect == "postgres" else sqlite_triggers()):
        await client.execute_script(sql)
    for sql in backfill(dialect):
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [('models', '0018_canned_on_behalf')]

    initial = False

    operations = [
        ops.CreateModel(
            name='WageClaim',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('request', fields.ForeignKeyField('models.ServiceRequest', source_field='request_id', db_constraint=True, to_field='id', related_name='wage_claims', on_delete=OnDelete.CASCADE)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='wage_claims', on_delete=OnDelete.RESTRICT)),
                ('amount', fields.IntField()),
                ('consent', fields.BooleanField(default=False)),
                ('added_by', fields.ForeignKeyField('models.Officer', source_field='added_by_id', null=True, db_constraint=True, to_field='id', related_name='wage_claims_added', on_delete=OnDelete.SET_NULL)),
                ('client_id', fields.UUIDField(null=True, unique=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'wage_claim', 'app': 'models', 'unique_together': (('request', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='FiguresMonth',
            name='wage_cases',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='FiguresMonth',
            name='wage_owed',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='FiguresMonth',
            name='wage_recovered',
            field=fields.BigIntField(default=0, db_default=0),
        ),
        ops.AddField(
            model_name='FiguresMonth',
            name='wage_workers',
            field=fields.IntField(default=0, db_default=0),
        ),
        ops.AlterField(
            model_name='RequestEvent',
            name='kind',
            field=fields.CharEnumField(description='SUBMITTED: submitted\nACKNOWLEDGED: acknowledged\nREPLY: reply\nWORKER_REPLY: worker_reply\nNOTE: note\nESCALATED: escalated\nAUTO_ESCALATED: auto_escalated\nREFERRED: referred\nMANAGEMENT_REPLY: management_reply\nRESOLVED: resolved\nDECLINED: declined\nDUPLICATE: duplicate\nCONFIRMED: confirmed\nAUTO_CLOSED: auto_closed\nREOPENED: reopened\nRATED: rated\nREASSIGNED: reassigned\nHANDED_OVER: handed_over\nDUE_SOON: due_soon\nMERGED: merged\nUNLINKED: unlinked\nWAGE_VERIFIED: wage_verified\nWAGE_PROMISED: wage_promised\nWAGE_PARTIAL: wage_partial\nWAGE_PAID: wage_paid\nWAGE_CLAIM: wage_claim', enum_type=EventKind, max_length=20),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='amount_owed',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='amount_recovered',
            field=fields.IntField(null=True),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='employer_owing',
            field=fields.CharField(null=True, max_length=100),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='wage_period',
            field=fields.CharField(null=True, max_length=50),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='wage_promised_on',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='wage_stage',
            field=fields.CharEnumField(null=True, description='VERIFIED: verified\nPROMISED: promised\nPARTIAL: partial\nPAID: paid', enum_type=WageStage, max_length=10),
        ),
        ops.AddField(
            model_name='ServiceRequest',
            name='workers_affected',
            field=fields.IntField(null=True),
        ),
        ops.RunPython(install),
    ]
