from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


# --- derived data: kept current by triggers, filled once here ------------------------------
# Frozen copies of the rules in server/services/figure_rows.py as they were when this migration
# was written (a migration must keep its meaning when the code moves on): a change to those
# rules needs a new migration replacing these triggers. tests/test_upper_figures.py checks
# that rows kept by the triggers equal rows rebuilt by figure_rows.rebuild.

OPEN = "('submitted', 'acknowledged', 'in_progress')"
MONTH = {
    # The month a request counts in, in China time (UTC+8 all year, no daylight saving).
    # SQLite reads Tortoise's stored '2026-11-30 16:30:00.123456+00:00' as UTC.
    "sqlite": "strftime('%Y-%m', {r}.created_at, '+8 hours')",
    "postgres": "to_char({r}.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')",
}
PARTS = {
    "countable": "CASE WHEN {r}.status <> 'declined' THEN 1 ELSE 0 END",
    "done": "CASE WHEN {r}.status IN ('resolved', 'closed') THEN 1 ELSE 0 END",
    "with_due": "CASE WHEN {r}.resolved_on_time IS NULL THEN 0 ELSE 1 END",
    "on_time": "CASE WHEN {r}.resolved_on_time THEN 1 ELSE 0 END",
    "rated": "CASE WHEN {r}.rating IS NULL THEN 0 ELSE 1 END",
    "satisfied": "CASE WHEN {r}.rating >= 4 THEN 1 ELSE 0 END",
}


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


def _member_add(r: str) -> str:
    return ("INSERT INTO project_figures (project_id, members, overdue) "
            f"SELECT {r}.project_id, 1, 0 WHERE {r}.status = 'active' "
            "ON CONFLICT (project_id) DO UPDATE SET members = project_figures.members + 1")


def _member_remove(r: str) -> str:
    return (f"UPDATE project_figures SET members = members - 1 "
            f"WHERE project_id = {r}.project_id AND {r}.status = 'active'")


def sqlite_triggers() -> list[str]:
    d = "sqlite"
    m_old, m_new = MONTH[d].format(r="OLD"), MONTH[d].format(r="NEW")
    same = (f"OLD.project_id = NEW.project_id AND OLD.member_id = NEW.member_id "
            f"AND {m_old} = {m_new}")
    changed = ("(OLD.status IS NOT NEW.status OR OLD.rating IS NOT NEW.rating "
               "OR OLD.resolved_on_time IS NOT NEW.resolved_on_time)")
    watched = "status, rating, resolved_on_time, project_id, member_id, created_at"
    # In SQLite the filer count goes up before the filer row is written: writers take turns.
    add_new = [_add_month(d, "NEW"),
               f"UPDATE figures_month SET filers = filers + 1 WHERE {_where(d, 'NEW')} "
               f"AND NOT EXISTS (SELECT 1 FROM figures_filer WHERE {_filer_key(d, 'NEW')})",
               _add_filer("NEW", d)]

    def body(statements: list[str]) -> str:
        return "BEGIN\n  " + ";\n  ".join(statements) + ";\nEND"

    return [
        "CREATE TRIGGER figures_request_insert AFTER INSERT ON service_request\n"
        + body(add_new),
        f"CREATE TRIGGER figures_request_update AFTER UPDATE OF {watched} ON service_request\n"
        f"WHEN {same} AND {changed}\n"
        + body([f"UPDATE figures_month SET {_delta()} WHERE {_where(d, 'NEW')}"]),
        f"CREATE TRIGGER figures_request_move AFTER UPDATE OF {watched} ON service_request\n"
        f"WHEN NOT ({same})\n" + body([*_remove(d, "OLD"), *add_new]),
        "CREATE TRIGGER figures_request_delete AFTER DELETE ON service_request\n"
        + body(_remove(d, "OLD")),
        "CREATE TRIGGER figures_member_insert AFTER INSERT ON member\n"
        "WHEN NEW.status = 'active'\n" + body([_member_add("NEW")]),
        "CREATE TRIGGER figures_member_update AFTER UPDATE OF status, project_id ON member\n"
        "WHEN (OLD.status = 'active' OR NEW.status = 'active') AND "
        "(OLD.status IS NOT NEW.status OR OLD.project_id <> NEW.project_id)\n"
        + body([_member_remove("OLD"), _member_add("NEW")]),
        "CREATE TRIGGER figures_member_delete AFTER DELETE ON member\n"
        "WHEN OLD.status = 'active'\n" + body([_member_remove("OLD")]),
    ]


def postgres_triggers() -> list[str]:
    d = "postgres"
    m_old, m_new = MONTH[d].format(r="OLD"), MONTH[d].format(r="NEW")
    same = (f"OLD.project_id = NEW.project_id AND OLD.member_id = NEW.member_id "
            f"AND {m_old} = {m_new}")
    changed = ("(OLD.status IS DISTINCT FROM NEW.status OR OLD.rating IS DISTINCT FROM "
               "NEW.rating OR OLD.resolved_on_time IS DISTINCT FROM NEW.resolved_on_time)")
    # The month row is upserted (and so locked) first; the filer row's upsert then waits for
    # any other transaction adding the same worker, and RETURNING tells whether this
    # request is the worker's first in the month: exact under concurrent filing.
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
    member_fn = f"""
CREATE OR REPLACE FUNCTION figures_member_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    IF TG_OP = 'UPDATE' THEN
      IF OLD.status IS NOT DISTINCT FROM NEW.status
         AND OLD.project_id = NEW.project_id THEN
        RETURN NULL;
      END IF;
    END IF;
    {_member_remove('OLD')};
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    {_member_add('NEW')};
  END IF;
  RETURN NULL;
END $$"""
    return [
        request_fn,
        "CREATE TRIGGER figures_request AFTER INSERT OR DELETE OR UPDATE OF status, rating, "
        "resolved_on_time, project_id, member_id, created_at ON service_request "
        "FOR EACH ROW EXECUTE FUNCTION figures_request_change()",
        member_fn,
        "CREATE TRIGGER figures_member AFTER INSERT OR DELETE OR UPDATE OF status, project_id "
        "ON member FOR EACH ROW EXECUTE FUNCTION figures_member_change()",
    ]


def backfill(dialect: str) -> list[str]:
    month = MONTH[dialect].format(r="r")
    names = list(PARTS)
    sums = ", ".join(f"SUM({_part(n, 'r')})" for n in names)
    return [
        f"INSERT INTO figures_month (project_id, month, requests, filers, {', '.join(names)}) "
        f"SELECT r.project_id, {month}, COUNT(*), COUNT(DISTINCT r.member_id), {sums} "
        f"FROM service_request r GROUP BY r.project_id, {month}",
        f"INSERT INTO figures_filer (project_id, month, member_id, requests) "
        f"SELECT r.project_id, {month}, r.member_id, COUNT(*) FROM service_request r "
        f"GROUP BY r.project_id, {month}, r.member_id",
        "INSERT INTO project_figures (project_id, members, overdue) "
        "SELECT u.id, (SELECT COUNT(*) FROM member m WHERE m.project_id = u.id "
        "AND m.status = 'active'), 0 FROM union_node u WHERE u.kind = 'project'",
    ]


async def install(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    dialect = client.capabilities.dialect
    for sql in backfill(dialect):
        await client.execute_script(sql)
    for sql in (postgres_triggers() if dialect == "postgres" else sqlite_triggers()):
        await client.execute_script(sql)


class Migration(migrations.Migration):
    dependencies = [('models', '0014_moves_care')]

    initial = False

    operations = [
        ops.CreateModel(
            name='FiguresFiler',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='figures_filers', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('member', fields.ForeignKeyField('models.Member', source_field='member_id', db_constraint=True, to_field='id', related_name='figures_filers', on_delete=OnDelete.CASCADE)),
                ('requests', fields.IntField(default=0)),
            ],
            options={'table': 'figures_filer', 'app': 'models', 'unique_together': (('project', 'month', 'member'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='FiguresMonth',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='figures_months', on_delete=OnDelete.CASCADE)),
                ('month', fields.CharField(max_length=7)),
                ('requests', fields.IntField(default=0)),
                ('filers', fields.IntField(default=0)),
                ('countable', fields.IntField(default=0)),
                ('done', fields.IntField(default=0)),
                ('with_due', fields.IntField(default=0)),
                ('on_time', fields.IntField(default=0)),
                ('rated', fields.IntField(default=0)),
                ('satisfied', fields.IntField(default=0)),
            ],
            options={'table': 'figures_month', 'app': 'models', 'unique_together': (('project', 'month'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Headcount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.ForeignKeyField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='headcounts', on_delete=OnDelete.CASCADE)),
                ('team', fields.ForeignKeyField('models.Team', source_field='team_id', null=True, db_constraint=True, to_field='id', related_name='headcounts', on_delete=OnDelete.CASCADE)),
                ('count', fields.IntField()),
                ('as_of', fields.DateField()),
                ('entered_by', fields.ForeignKeyField('models.Officer', source_field='entered_by_id', null=True, db_constraint=True, to_field='id', related_name='headcounts', on_delete=OnDelete.SET_NULL)),
                ('entered_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'headcount', 'app': 'models', 'indexes': [Index(fields=['project_id', 'team_id', 'as_of'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProjectFigures',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('project', fields.OneToOneField('models.UnionNode', source_field='project_id', db_constraint=True, to_field='id', related_name='figures', on_delete=OnDelete.CASCADE)),
                ('members', fields.IntField(default=0)),
                ('headcount', fields.IntField(null=True)),
                ('headcount_as_of', fields.DateField(null=True)),
                ('overdue', fields.IntField(default=0)),
                ('overdue_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'project_figures', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.RunPython(install),
    ]
