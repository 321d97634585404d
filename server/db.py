"""Database configuration and migrations (Tortoise ORM 1.x, built-in migrations)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import re
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from tortoise import Model, Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connections
from tortoise.migrations.api.migrate import migrate
from tortoise.transactions import in_transaction

M = TypeVar("M", bound=Model)

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


async def skip_reset_query(conn: Any) -> None:
    """What asyncpg's pool does to a connection it takes back, instead of its default.

    Tortoise takes a pooled connection for every statement outside a transaction, and by
    default asyncpg then sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL;` before lending it again: a second round trip, and on a notice page about a
    tenth of the server's CPU (bench/README.md). Lianxin takes no advisory locks, opens no
    cursors outside transactions, listens to nothing and sets nothing per session, so that
    query has nothing to undo. An open transaction is still rolled back: asyncpg does that
    itself before calling this."""


def connection_config(db_url: str) -> str | dict[str, Any]:
    url = normalise_url(db_url)
    if not url.startswith("postgres://"):
        return url
    config = expand_db_url(url)
    config["credentials"]["reset"] = skip_reset_query
    return config


def tortoise_config(db_url: str, read_url: str = "") -> dict[str, Any]:
    connections = {PRIMARY: connection_config(db_url)}
    extra: dict[str, Any] = {}
    if read_url:
        connections[REPLICA] = connection_config(read_url)
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


Pending = tuple[tuple[Any, ...], "asyncio.Future[bool]"]


class GroupInsert:
    """Rows inserted by many tasks at once, written together: group commit for a hot path.

    `await insert(row)` returns once the row is committed, as a one-row INSERT would. The
    first task to arrive writes at once; rows that arrive while its statement is in flight
    wait and go in the next statement (up to `max_rows` each), written by the first of them.
    So nothing waits on a timer, a quiet server writes one row per statement as before, and
    a burst costs one round trip and one commit per batch instead of per row. Nothing is
    acknowledged before its commit, so nothing is lost that a one-row INSERT would have
    kept; a batch that fails is retried row by row, so a bad row fails only its own caller.
    Rows conflicting with the unique key are skipped (ON CONFLICT DO NOTHING).

    Only for autocommit writes: the statement runs on the primary's pool, never inside the
    caller's transaction (a caller inside one is refused).
    """

    def __init__(self, table: str, columns: Sequence[str], conflict: Sequence[str],
                 max_rows: int = 64) -> None:
        self.table, self.columns, self.conflict = table, tuple(columns), tuple(conflict)
        self.max_rows = max_rows
        # Per event loop: futures belong to one loop (tests run several, one after another).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary())

    def sql(self, rows: int) -> str:
        # Names come from the code that made this object, never from a request.
        one = "(" + ", ".join("?" * len(self.columns)) + ")"
        head = f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES "  # noqa: S608
        return head + ", ".join([one] * rows) + (
            f" ON CONFLICT ({', '.join(self.conflict)}) DO NOTHING")

    async def insert(self, row: Sequence[Any]) -> None:
        if _in_transaction():
            raise RuntimeError("GroupInsert writes outside transactions only")
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        mine: asyncio.Future[bool] = loop.create_future()
        queue.pending.append((tuple(row), mine))
        if queue.writing:
            try:
                # False: written by the task before us; True: the next batch is ours to write.
                if not await mine:
                    return
            except asyncio.CancelledError:
                if mine.done() and not mine.cancelled() and mine.result():
                    queue.hand_on()  # our turn, but we are gone: the next waiter writes
                raise
        queue.writing = True
        batch, queue.pending = queue.pending[:self.max_rows], queue.pending[self.max_rows:]
        try:
            # Shielded: if this caller goes away mid-statement, the others still get their
            # answers.
            failure = await asyncio.shield(self._write(batch, mine))
        finally:
            queue.hand_on()
        if failure is not None:
            raise failure

    async def _write(self, batch: list[Pending], mine: asyncio.Future[bool]) -> Exception | None:
        """Write the batch; answer every caller in it but `mine`, whose outcome is returned."""
        conn = get_connections().get(PRIMARY)
        outcomes: list[Exception | None]
        rows = [row for row, _ in batch]
        # Padded to a power of two by repeating the last row (a repeat conflicts and is
        # skipped): each pooled connection then prepares a handful of statement shapes, not
        # one per batch size.
        rows += rows[-1:] * ((1 << (len(rows) - 1).bit_length()) - len(rows))
        try:
            await fetch(self.sql(len(rows)), *[v for row in rows for v in row], conn=conn)
            outcomes = [None] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                outcomes = [exc]
            else:
                outcomes = []
                for row, _ in batch:
                    try:
                        await fetch(self.sql(1), *row, conn=conn)
                        outcomes.append(None)
                    except Exception as one:
                        outcomes.append(one)
        failure = None
        for (_, done), outcome in zip(batch, outcomes, strict=True):
            if done is mine:
                failure = outcome
            elif not done.done():
                if outcome is None:
                    done.set_result(False)
                else:
                    done.set_exception(outcome)
        return failure


class _Queue:
    def __init__(self) -> None:
        self.pending: list[Pending] = []
        self.writing = False

    def hand_on(self) -> None:
        """The writer is done: the first task still waiting writes the next batch. Rows of
        callers cancelled while they waited are dropped: no response told anyone they were
        written."""
        self.pending = [p for p in self.pending if not p[1].done()]
        if self.pending:
            self.pending[0][1].set_result(True)
        else:
            self.writing = False


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
    return [tuple(row.values()) for row in await fetch_dicts(sql, *params, conn=conn)]


async def fetch_dicts(sql: str, *params: Any,
                      conn: BaseDBAsyncClient | None = None) -> list[dict[str, Any]]:
    """`fetch`, with each row as a mapping of column name to value: what a model's
    `_init_from_db(**row)` takes, to build it exactly as the ORM's own SELECT would."""
    if conn is None:
        conn = read_connection() if _READ_ONLY.match(sql) else get_connections().get(PRIMARY)
    if conn.capabilities.dialect == "postgres":
        sql = numbered_placeholders(sql)
    # execute_query_dict: asyncpg's execute_query drops the rows of UPDATE … RETURNING.
    return [dict(row) for row in await conn.execute_query_dict(sql, list(params))]


@functools.cache
def _with_related_sql(model: type[Model], related: tuple[str, ...]) -> str:
    """SELECT of one row by primary key with its foreign-key rows LEFT JOINed, each related
    column named "attr.column" as Tortoise's own select_related names them."""
    meta = model._meta
    columns = [f'm."{c}"' for c in meta.fields_db_projection.values()]
    joins = []
    for i, attr in enumerate(related):
        field = meta.fields_map[attr]
        other = field.related_model._meta  # type: ignore[attr-defined]
        columns += [f'r{i}."{c}" AS "{attr}.{c}"' for c in other.fields_db_projection.values()]
        source = meta.fields_db_projection[str(field.source_field)]
        joins.append(f'LEFT JOIN "{other.db_table}" r{i} '
                     f'ON r{i}."{other.db_pk_column}" = m."{source}"')
    return (f"SELECT {', '.join(columns)} FROM \"{meta.db_table}\" m {' '.join(joins)} "  # noqa: S608
            f'WHERE m."{meta.db_pk_column}" = ?')


async def get_with_related(model: type[M], pk: int, *related: str) -> M | None:
    """`model.get_or_none(pk=pk).select_related(*related)` (foreign keys of `model` itself,
    one level), built as the ORM builds it but from a statement written once per process:
    on the session and member lookups that every page makes, building the query through
    the ORM cost more than running it."""
    rows = await fetch_dicts(_with_related_sql(model, related), pk)
    if not rows:
        return None
    row = rows[0]
    main = {k: v for k, v in row.items() if "." not in k}
    instance = model._init_from_db(**main)
    for attr in related:
        prefix = attr + "."
        values = {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}
        field = model._meta.fields_map[attr]
        obj = None
        if any(v is not None for v in values.values()):
            obj = field.related_model._init_from_db(**values)  # type: ignore[attr-defined]
        object.__setattr__(instance, f"_{attr}", obj)
    return instance


def id_list(ids: Sequence[int]) -> str:
    """Integer ids written into a statement's IN (…): each forced through int(), so nothing
    but digits and commas reaches the SQL text."""
    return ",".join(str(int(i)) for i in ids)
