"""Piccolo's SQLite engine with long-lived connections: a few for reads, one for this process's writes.

Outside a transaction, Piccolo's `SQLiteEngine` opens a new connection for every query: a new
aiosqlite thread, `sqlite3.connect`, a PRAGMA, the query, a commit and a close, several thread
hops in all. On the client's page that was most of the time a request took. Here, while the pool
is started (`start_readers`, by the app's lifespan), SELECTs made outside a transaction go to one
of a few connections opened once and answer in a single hop to their thread.

The database runs in WAL mode and the connections in autocommit, so every pooled SELECT reads a
fresh snapshot: it sees each write committed before it started (a revoked link, a payment), and
readers never wait for writers.

Writes go to one writer connection, taken in turn behind an `asyncio.Lock`: writes outside a
transaction, and write transactions (`BEGIN IMMEDIATE`, `core.db.write_transaction`). SQLite lets
one writer in at a time anyway; left to itself, a writer that finds the lock taken sleeps and
polls (1, 2, 5 … 100 ms), so under a stream of short writes (the job worker's deliveries) a large
one could wait seconds for a gap. Queued on the lock, writers of this process go first come, first
served, and a write needs no connection of its own. SQLite's busy wait remains for other processes.

A read by key that returns a handful of rows (`read_now`, used through `core.db.fetch_by_key`)
takes tens of microseconds in SQLite, less than the hop to a reader thread and back; under load
that hop also waits for the GIL while the event loop serves other requests. Such reads run on the
event loop's own thread, on one more connection that never waits: if SQLite is busy (a WAL
recovery, say), the read goes to a reader thread as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory
from piccolo.querystring import QueryString

READERS = 4
"""Read connections: a long read (a big staff listing) holds one; the portal's short reads take the others."""


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


@functools.lru_cache(maxsize=64)
def _question_marks(sql: str) -> str:
    """Piccolo's `{}` placeholders as sqlite3's `?` (our own statements: no braces but placeholders)."""
    return sql.replace("{}", "?")


class _Writer:
    """The writer connection and the lock its users queue on (FIFO)."""

    def __init__(self, connection: aiosqlite.Connection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.unsettled = False
        """A transaction may have been left open (its COMMIT or ROLLBACK failed or was cancelled)."""
        self._lock = asyncio.Lock()

    async def acquire(self) -> aiosqlite.Connection:
        """Wait for the connection as long as SQLite's own busy timeout would have waited for the lock."""
        try:
            await asyncio.wait_for(self._lock.acquire(), self.timeout)
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        if self.unsettled:  # never build on what an earlier user left half done
            try:
                with contextlib.suppress(sqlite3.OperationalError):  # "no transaction is active"
                    await self.connection.execute("ROLLBACK")
                self.unsettled = False
            except BaseException:
                self._lock.release()
                raise
        return self.connection

    def release(self) -> None:
        """Hand the connection to the next writer in line."""
        self._lock.release()


class PooledWriteTransaction(SQLiteTransaction):
    """A write transaction on the writer connection, holding it from BEGIN to COMMIT or ROLLBACK."""

    def __init__(self, engine: SQLitePoolEngine, writer: _Writer, transaction_type: TransactionType) -> None:
        super().__init__(engine=engine, transaction_type=transaction_type)
        self._writer = writer

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self._writer.acquire()
        try:
            await self.connection.execute(f"BEGIN {self.transaction_type.value}")
        except BaseException:
            self._writer.release()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent is not None:
            return exception is None
        settled = False
        try:
            if exception is not None:
                if not self._rolled_back:
                    await self.connection.execute("ROLLBACK")
            elif not self._committed and not self._rolled_back:
                await self.connection.execute("COMMIT")
            settled = True
        finally:
            self._writer.unsettled = not settled
            self.engine.current_transaction.reset(self.context)
            self._writer.release()  # the connection stays open for the next writer
        return exception is None


class SQLitePoolEngine(SQLiteEngine):
    """`SQLiteEngine` with pooled read connections and one shared writer while the pool is started."""

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._writer: _Writer | None = None
        self._open: list[aiosqlite.Connection] = []
        self._on_loop: sqlite3.Connection | None = None
        self._users = 0

    @property
    def readers_open(self) -> bool:
        """True between the first `start_readers` and the last `close_readers`."""
        return self._readers is not None

    async def start_readers(self, size: int = READERS) -> None:
        """Open the read connections and the writer; nested calls share them (closed by the last `close_readers`)."""
        self._users += 1
        if self._readers is not None:
            return
        readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        try:
            for _ in range(size):
                readers.put_nowait(await self._connect())
            writer = _Writer(await self._connect(), timeout=float(self.connection_kwargs.get("timeout", 5.0)))
            self._on_loop = self._loop_connection()
        except BaseException:
            self._users -= 1
            await self._close_all()
            raise
        self._readers, self._writer = readers, writer

    async def close_readers(self) -> None:
        """Close the connections once their last user is done (their threads would keep a process alive)."""
        self._users = max(self._users - 1, 0)
        if self._users == 0:
            self._readers = self._writer = None
            await self._close_all()

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(**self.connection_kwargs)
        self._open.append(connection)
        connection.row_factory = dict_factory  # type: ignore[assignment]  # sqlite3 takes any callable
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def _close_all(self) -> None:
        connections, self._open = self._open, []
        on_loop, self._on_loop = self._on_loop, None
        if on_loop is not None:
            on_loop.close()
        for connection in connections:
            await connection.close()

    def _loop_connection(self) -> sqlite3.Connection:
        """The connection `read_now` uses: Piccolo's type conversions, `sqlite3.Row` rows, autocommit, no lock waits.

        `sqlite3.Row` is built in C: rows read by column name as Piccolo's dicts do, at a fraction of the cost.
        """
        kwargs: dict[str, Any] = {**self.connection_kwargs, "timeout": 0, "isolation_level": None}
        # Only ever used from the event loop's thread, which may not be the one the lifespan opened it on.
        connection: sqlite3.Connection = sqlite3.connect(**kwargs, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def read_now(self, sql: str, *args: Any) -> list[Any]:
        """A short read by key (`{}` parameters, as Piccolo's `raw`), on the loop's thread while that costs no waiting.

        Only for reads that touch a few rows through an index: anything longer would hold up every
        other request of the process while it runs. Inside a transaction, before the readers are
        open, or when SQLite is busy, it runs as any other read instead. Rows are `sqlite3.Row`s, or
        dicts when it ran as any other read: read them by column name.
        """
        on_loop = self._on_loop
        if on_loop is None or self.current_transaction.get() is not None:
            return list(await self.run_querystring(QueryString(sql, *args)))
        query = _question_marks(sql)
        try:
            return list(on_loop.execute(query, args).fetchall())
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        readers = self._readers
        assert readers is not None
        connection = await readers.get()
        try:
            return list(await connection.execute_fetchall(query, args))  # dict rows
        finally:
            readers.put_nowait(connection)

    def transaction(
        self, transaction_type: TransactionType = TransactionType.deferred, allow_nested: bool = True
    ) -> SQLiteTransaction:
        """Write transactions (immediate, exclusive) take the writer connection; deferred ones, Piccolo's own."""
        writer = self._writer
        if writer is None or transaction_type == TransactionType.deferred or self.current_transaction.get():
            return super().transaction(transaction_type=transaction_type, allow_nested=allow_nested)
        return PooledWriteTransaction(self, writer, transaction_type)

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        """Outside a transaction: reads on a pooled reader, writes on the writer; otherwise as Piccolo runs it."""
        readers, writer = self._readers, self._writer
        if readers is None or writer is None or not in_pool or self.current_transaction.get() is not None:
            return await super().run_querystring(querystring, in_pool=in_pool)
        query, args = querystring.compile_string(engine_type=self.engine_type)
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=str(querystring))
        if _is_read(query):
            connection = await readers.get()
            try:
                response = list(await connection.execute_fetchall(query, args))
            finally:
                readers.put_nowait(connection)
        else:
            # Autocommit: the statement commits when it completes, here in the same thread hop.
            connection = await writer.acquire()
            try:
                response = list(await connection.execute_fetchall(query, args))
            finally:
                writer.release()
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response
