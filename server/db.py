"""Database configuration and migrations (Tortoise ORM 1.x, built-in migrations)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from tortoise import Model, Tortoise
from tortoise import connections as open_connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api.migrate import migrate
from tortoise.transactions import in_transaction

MODELS_MODULE = "server.models"
MIGRATIONS_MODULE = "server.migrations"
DEFAULT_DB_URL = "sqlite://lianxin.sqlite3"


def normalise_url(db_url: str) -> str:
    if db_url.startswith("sqlite://") and "busy_timeout" not in db_url:
        # Several server processes may share one SQLite file: wait for the lock, don't fail.
        db_url += ("&" if "?" in db_url else "?") + "busy_timeout=5000"
    if db_url.startswith("postgresql://"):
        db_url = "postgres://" + db_url.removeprefix("postgresql://")
    return db_url


PRIMARY = "default"
REPLICA = "replica"
_replica_reads: ContextVar[bool] = ContextVar("replica_reads", default=False)


class ReplicaRouter:
    """Sends reads to the read replica, but only inside `reads_from_replica()`.

    Routing every read there would break read-your-writes (a worker who just joined would
    not find themselves) and reads inside transactions; so only officer pages that show
    figures, digests and searches opt in, where a second of replication lag does no harm.
    """

    def db_for_read(self, model: type) -> str | None:
        return REPLICA if _replica_reads.get() else None

    def db_for_write(self, model: type) -> str | None:
        return None


@contextlib.contextmanager
def reads_from_replica() -> Iterator[None]:
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def tortoise_config(db_url: str, read_url: str = "") -> dict[str, Any]:
    connections = {PRIMARY: normalise_url(db_url)}
    extra: dict[str, Any] = {}
    if read_url:
        connections[REPLICA] = normalise_url(read_url)
        extra["routers"] = ["server.db.ReplicaRouter"]
    return {
        **extra,
        "connections": connections,
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": PRIMARY,
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# Read by the `tortoise` CLI (pyproject [tool.tortoise]) for makemigrations.
TORTOISE_ORM = tortoise_config(os.environ.get("LIANXIN_DB_URL", DEFAULT_DB_URL))


async def apply_migrations(db_url: str) -> None:
    """Bring the schema up to date; safe to run on every start and from several processes."""
    try:
        await migrate(config=tortoise_config(db_url))
    finally:
        await Tortoise.close_connections()


async def insert_like(conn: BaseDBAsyncClient, template: Model,
                      rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert one row per mapping: the template's values with the mapping's fields replaced,
    skipping rows that conflict with a unique key (ON CONFLICT DO NOTHING).

    For batches: Tortoise's bulk_create builds and validates a model per row, which costs
    more than the database does. Values still go through each field's `to_db_value`, so
    they are stored exactly as the ORM would store them, on SQLite and PostgreSQL alike.
    """
    if not rows:
        return
    model = type(template)
    executor = conn.executor_class(model=model, db=conn)
    columns = executor.regular_columns
    fields = model._meta.fields_map
    base = {name: fields[name].to_db_value(getattr(template, name), template)
            for name in columns}
    sql = str(executor._prepare_insert_statement(
        [model._meta.fields_db_projection[name] for name in columns], ignore_conflicts=True))
    values = []
    for row in rows:
        values.append([fields[name].to_db_value(row[name], template) if name in row
                       else base[name] for name in columns])
    await conn.execute_many(sql, values)


def transaction() -> Any:
    """A transaction on the primary. Always named: with a read replica configured there are
    two connections, and an unnamed `in_transaction()` refuses to guess."""
    return in_transaction(PRIMARY)


async def fetch(sql: str, *params: Any, conn: BaseDBAsyncClient | None = None) -> list[Any]:
    """Rows of a hand-written statement on the hot paths, where building the query with the
    ORM costs more than running it. Write `?` placeholders; PostgreSQL gets `$n`. Name
    every computed column (AS …): rows come back as mappings, where two `count` columns
    would be one."""
    conn = conn or open_connections.get(PRIMARY)
    if conn.capabilities.dialect == "postgres":
        parts = sql.split("?")
        sql = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
    # execute_query_dict: asyncpg's execute_query drops the rows of UPDATE … RETURNING.
    rows = await conn.execute_query_dict(sql, list(params))
    return [tuple(row.values()) for row in rows]
