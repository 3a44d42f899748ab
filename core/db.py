"""Database engine: built from the URL, bound to every table, and migrated."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg
import structlog
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

import core.piccolo_conf
from core.piccolo_app import APP_CONFIG
from core.sqlite_engine import SQLitePoolEngine

log = structlog.get_logger()

PICCOLO_CONF_MODULE = "core.piccolo_conf"
T = TypeVar("T")


class MigrationError(RuntimeError):
    """The schema could not be brought up to date."""


def engine_for_url(url: str) -> Engine[Any]:
    """Make a Piccolo engine for a `sqlite:///path` or `postgresql://…` URL."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db, as SQLAlchemy spells them.
        path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
        return SQLitePoolEngine(path=path or "portal.sqlite3", timeout=30)
    # PostgreSQL's own plan caching: a prepared statement gets a generic plan once that plans as well as
    # custom ones, so a short read by key (the client's page) is not planned again on every call. The
    # import opts out in its own transactions (`custom_plans`).
    return PortalPostgresEngine(config={"dsn": url})


DISCONNECTS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.InternalClientError,
    ConnectionError,
)
"""What a dropped or restarting PostgreSQL connection raises (the statement may or may not have run)."""


async def surviving_disconnects(write: Callable[[], Awaitable[T]], *, attempts: int = 5, first_delay: float = 0.2) -> T:
    """Run an idempotent write again when the connection drops under it, backing off between tries.

    For the write that records what a job just did outside the database (an email sent): failing the job
    there would make its retry believe it died mid-way. The write must be safe to run twice.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except DISCONNECTS:
            if attempt == attempts:
                raise
            await asyncio.sleep(first_delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


class ReleasingTransaction(PostgresTransaction):
    """Piccolo's PostgreSQL transaction, giving its connection back to the pool whatever happens at the end.

    Piccolo's own `__aexit__` rolls back, then releases the connection and resets the current transaction.
    When the connection was dropped (a PostgreSQL restart or failover, `pg_terminate_backend`) the rollback
    raises, so the connection never went back to the pool and the task kept the dead transaction as its
    current one: ten drops and the pool was empty, every query waiting forever (found by the fault tests).
    """

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()  # type: ignore[no-untyped-call]
        try:
            self.transaction = self.connection.transaction()
            await self.begin()  # type: ignore[no-untyped-call]
        except BaseException:
            # An idle pooled connection the server dropped fails here, at BEGIN: give it back all the same
            # (Piccolo's kept it, and a pool that lost one per drop hung on close).
            await self._give_back()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _give_back(self) -> None:
        if self.engine.pool:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent is not None:
            return exception is None
        try:
            if exception is not None:
                if not self._rolled_back:
                    # The original error propagates; a dead connection has rolled back on the server anyway.
                    with contextlib.suppress(Exception):
                        await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
        finally:
            try:
                await self._give_back()
            finally:
                self.engine.current_transaction.reset(self.context)
        return exception is None


class PortalPostgresEngine(PostgresEngine):
    """PostgreSQL with transactions that survive dropped connections (`ReleasingTransaction`)."""

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        """A transaction, nested ones joining the current one (as Piccolo's)."""
        return ReleasingTransaction(engine=self, allow_nested=allow_nested)


def bind_engine(engine: Engine[Any]) -> None:
    """Point every table, Piccolo's migration table and Piccolo's finder at `engine`."""
    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF_MODULE)
    core.piccolo_conf.DB = engine
    tables: list[type[Table]] = [*APP_CONFIG.table_classes, Migration]
    for table in tables:
        table._meta.db = engine


def is_sqlite(engine: Engine[Any]) -> bool:
    """SQLite needs a few different statements (single writer, no SKIP LOCKED)."""
    return isinstance(engine, SQLiteEngine)


@contextlib.asynccontextmanager
async def connected(engine: Engine[Any]) -> AsyncIterator[Engine[Any]]:
    """Open the connection pool (PostgreSQL) or the read connections (SQLite) for the lifetime of the block."""
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=10, reset=_keep_session)
    else:
        await engine.run_ddl("PRAGMA journal_mode=WAL")
        if isinstance(engine, SQLitePoolEngine):
            await engine.start_readers()
    try:
        yield engine
    finally:
        if isinstance(engine, PostgresEngine):
            await _close_pool(engine)
        elif isinstance(engine, SQLitePoolEngine):
            await engine.close_readers()


POOL_CLOSE_SECONDS = 30.0


async def _close_pool(engine: PostgresEngine) -> None:
    """Close the pool, terminating connections still out after POOL_CLOSE_SECONDS (shutdown never hangs)."""
    pool = engine.pool
    if pool is None:
        return
    try:
        await asyncio.wait_for(pool.close(), POOL_CLOSE_SECONDS)
    except TimeoutError:
        log.warning("database_pool_terminated", reason="connections still out at shutdown")
        pool.terminate()
    engine.pool = None


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Give a connection back to the pool without asyncpg's reset query.

    asyncpg always rolls back a transaction left open and drops listeners (`Connection._reset`, run before
    this). Its default reset then sends `CLOSE ALL; UNLISTEN *; RESET ALL; SELECT pg_advisory_unlock_all()`:
    a second round trip for every query, undoing session state this app never sets on pooled connections
    (no SET, LISTEN, held cursors or advisory locks: the migration lock takes a connection of its own).
    """


async def migrate(engine: Engine[Any]) -> None:
    """Apply every migration that has not run yet; running it twice is a no-op.

    On PostgreSQL an advisory lock makes concurrent `portal migrate` calls wait
    for each other instead of racing on the same DDL.
    """
    bind_engine(engine)
    async with _migration_lock(engine):
        with contextlib.redirect_stdout(io.StringIO()):  # Piccolo narrates every step with emoji.
            result = await run_forwards(app_name="all")
    if not result.success:
        raise MigrationError(result.message or "migration failed")


@contextlib.asynccontextmanager
async def _migration_lock(engine: Engine[Any]) -> AsyncIterator[None]:
    if not isinstance(engine, PostgresEngine):
        yield
        return
    # A session-level lock on a connection of its own: pooled connections would lose it.
    connection = await asyncpg.connect(engine.config["dsn"])
    try:
        await connection.execute("SELECT pg_advisory_lock(724011)")
        yield
    finally:
        await connection.close()


async def pending_migrations(engine: Engine[Any]) -> list[str]:
    """Ids of migrations that exist in the code but have not run on this database."""
    from piccolo.apps.migrations.commands.base import BaseMigrationManager

    bind_engine(engine)
    manager = BaseMigrationManager()
    await manager.create_migration_table()
    modules = manager.get_migration_modules(APP_CONFIG.resolved_migrations_folder_path)
    known = manager.get_migration_ids(modules)
    ran = await Migration.get_migrations_which_ran(app_name=APP_CONFIG.app_name)
    return sorted(set(known) - set(ran))


def write_transaction() -> Any:
    """A transaction that will write: on SQLite it takes the write lock up front (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and then writes fails with "database is locked"
    when another writer got there first, whatever the busy timeout; an immediate one waits.
    """
    engine = core.piccolo_conf.DB
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def uuid_in(column: Column, values: Sequence[uuid.UUID | str]) -> WhereRaw:
    """`column IN values` for thousands of UUIDs, sent as one parameter instead of one per value.

    A JSON array read with `json_each` on SQLite, a `uuid[]` on PostgreSQL: binding 5,000
    parameters one by one cost about a quarter of the send call's selection query. Values are
    UUIDs or their canonical text (lower case, with hyphens, as `str(uuid)` writes them).
    """
    name = column._meta.get_full_name(with_alias=False)  # from the table class, never from input
    if is_sqlite(column._meta.table._meta.db):
        # Piccolo stores UUIDs in SQLite as their canonical text.
        listed = json.dumps([str(value) for value in values])
        return WhereRaw(f"{name} IN (SELECT value FROM json_each({{}}))", listed)  # noqa: S608
    return WhereRaw(f"{name} = ANY({{}}::uuid[])", list(values))


class Row(Protocol):
    """A row read by column name: a dict (Piccolo), a `sqlite3.Row` or an asyncpg `Record`."""

    def __getitem__(self, column: str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


def row_values(row: Row) -> tuple[Any, ...]:
    """A row's values in the order of its columns, whichever driver read it."""
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


async def fetch_by_key(sql: str, *args: Any) -> Sequence[Row]:
    """Rows of a short read by key (a few rows through indexes) at the least cost per call each database allows.

    `sql` takes Piccolo's `{}` placeholders, as `Table.raw` does. On SQLite it runs on the event loop's
    thread (`SQLitePoolEngine.read_now`); on PostgreSQL it is one round trip on a pooled connection,
    straight to asyncpg. Inside a transaction it runs on the transaction's connection, through Piccolo.
    """
    engine = core.piccolo_conf.DB
    if isinstance(engine, SQLitePoolEngine):
        return await engine.read_now(sql, *args)
    if isinstance(engine, PostgresEngine) and engine.pool is not None and engine.current_transaction.get() is None:
        rows: list[Row] = await engine.pool.fetch(_dollar_placeholders(sql), *args)
        return rows
    return list(await engine.run_querystring(QueryString(sql, *args)))


@functools.lru_cache(maxsize=64)
def _dollar_placeholders(sql: str) -> str:
    """Piccolo's `{}` placeholders as asyncpg's `$1`, `$2`… (our own statements: no braces but placeholders)."""
    parts = sql.split("{}")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], start=1)) + parts[-1]


async def custom_plans() -> None:
    """Plan every statement for its own parameters until the current transaction ends (PostgreSQL; else nothing).

    For lookups whose best plan depends on the values: the import's `external_id IN (…1000 values…)`
    degrades badly under the generic plan PostgreSQL switches to for prepared statements once the
    table grows (measured in benchmarks/import.py). Call it first thing inside the transaction.
    """
    engine = core.piccolo_conf.DB
    if isinstance(engine, PostgresEngine):
        await engine.run_ddl("SET LOCAL plan_cache_mode = force_custom_plan")


def read_transaction() -> Any:
    """Several reads on one connection and one snapshot (never hold it across a network call).

    Outside a transaction Piccolo's SQLite engine opens a connection, with its own thread, for every
    query, which costs milliseconds each; a job that reads four things reads them in one of these.
    """
    return core.piccolo_conf.DB.transaction()


INSERT_CHUNK = 1000
"""Rows per INSERT: PostgreSQL allows at most 32,767 bind parameters in one statement."""


async def insert_all(table: type[Table], rows: list[Any]) -> None:
    """Insert many rows of one table, a thousand per statement (inside the caller's transaction)."""
    for start in range(0, len(rows), INSERT_CHUNK):
        await table.insert(*rows[start : start + INSERT_CHUNK])


async def insert_rows(table: type[Table], columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> None:
    """Insert plain value tuples, one per row, inside the caller's write transaction.

    For thousands of rows at once: building a Piccolo object and its query string per row cost
    about 0.2 ms each, most of a 5,000-invoice send call. The rows go to the driver as they are
    (SQLite `executemany`, PostgreSQL `COPY`, so no bind-parameter limit), which means no
    column defaults are filled in: give every NOT NULL column a value of the type Piccolo would
    send (UUID or its canonical text, timezone-aware datetime, JSON as text).
    """
    if not rows:
        return
    engine = table._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("insert_rows runs inside write_transaction()")
    names = [column._meta.db_column_name for column in columns]
    if isinstance(engine, SQLiteEngine):
        quoted = ", ".join(f'"{name}"' for name in names)
        marks = ", ".join("?" for _ in names)
        # Table and column names come from the table class, never from input.
        statement = f'INSERT INTO "{table._meta.tablename}" ({quoted}) VALUES ({marks})'  # noqa: S608
        await transaction.connection.executemany(statement, rows)
    else:
        await transaction.connection.copy_records_to_table(table._meta.tablename, records=rows, columns=names)


async def refresh_planner_statistics(engine: Engine[Any]) -> None:
    """Give SQLite's query planner fresh table statistics (PostgreSQL's autovacuum keeps its own).

    Without statistics SQLite guesses, and for a search it walked the Outstanding list's index row by row
    instead of reading the few matching invoices by key (0.6 s against 20 ms at 100,000 invoices). A full
    ANALYZE (about 0.2 s at that size; a sampled one misjudged how many invoices a workspace holds and kept
    the slow plan) runs hourly in the maintenance job and when `portal serve` starts.
    """
    if isinstance(engine, SQLiteEngine):
        await engine.run_ddl("ANALYZE")
