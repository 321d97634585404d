"""Database configuration and migrations (Tortoise ORM 1.x, built-in migrations)."""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from tortoise import Model, Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.connection import get_connections
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
    Hand-written SQL (`fetch`) takes the same road: see `read_connection`.
    """

    def db_for_read(self, model: type) -> str | None:
        return REPLICA if _reads_go_to_replica() else None

    def db_for_write(self, model: type) -> str | None:
        return None


def _in_transaction() -> bool:
    # Inside `transaction()` Tortoise hands this task the transaction's own client under the
    # primary's name; a read there must see the transaction's writes, not the replica's past.
    return isinstance(get_connections().get(PRIMARY), TransactionalDBClient)


def _reads_go_to_replica() -> bool:
    return _replica_reads.get() and not _in_transaction()


@contextlib.contextmanager
def reads_from_replica() -> Iterator[None]:
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def read_connection() -> BaseDBAsyncClient:
    """Where a read goes now, the same choice the ORM's router makes: the replica inside
    `reads_from_replica()` (when one is configured), the transaction's connection inside a
    transaction, the primary otherwise."""
    if _reads_go_to_replica() and REPLICA in get_connections().db_config:
        return get_connections().get(REPLICA)
    return get_connections().get(PRIMARY)


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


# A `?` is a placeholder only outside quoted strings, quoted names and comments.
_PLACEHOLDER = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|\?""", re.S)
# Statements that only read; anything else (UPDATE … RETURNING, a locking SELECT) is a write.
_READ_ONLY = re.compile(r"\s*SELECT\b(?!.*\bFOR\s+(?:UPDATE|SHARE|NO\s+KEY)\b)", re.I | re.S)


@functools.lru_cache(maxsize=256)
def numbered_placeholders(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1`, `$2` …, leaving a `?` in a string alone."""
    n = itertools.count(1)
    return _PLACEHOLDER.sub(lambda m: f"${next(n)}" if m.group() == "?" else m.group(), sql)


async def fetch(sql: str, *params: Any, conn: BaseDBAsyncClient | None = None) -> list[Any]:
    """Rows of a hand-written statement on the hot paths, where building the query with the
    ORM costs more than running it. Write `?` placeholders; PostgreSQL gets `$n`. Name
    every computed column (AS …): rows come back as mappings, where two `count` columns
    would be one.

    Without `conn`, the statement goes where the ORM would send it: a SELECT to
    `read_connection()` (the replica inside `reads_from_replica()`, so a page that opted in
    reads one snapshot whether its queries are hand-written or not), anything else to the
    primary (the transaction's connection inside one)."""
    if conn is None:
        conn = read_connection() if _READ_ONLY.match(sql) else get_connections().get(PRIMARY)
    if conn.capabilities.dialect == "postgres":
        sql = numbered_placeholders(sql)
    # execute_query_dict: asyncpg's execute_query drops the rows of UPDATE … RETURNING.
    rows = await conn.execute_query_dict(sql, list(params))
    return [tuple(row.values()) for row in rows]


def id_list(ids: Sequence[int]) -> str:
    """Integer ids written into a statement's IN (…): each forced through int(), so nothing
    but digits and commas reaches the SQL text."""
    return ",".join(str(int(i)) for i in ids)
