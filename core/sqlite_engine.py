"""Piccolo's SQLite engine with a few long-lived connections for reads.

Outside a transaction, Piccolo's `SQLiteEngine` opens a new connection for every query: a new
aiosqlite thread, `sqlite3.connect`, a PRAGMA, the query, a commit and a close, several thread
hops in all. On the client's page that was most of the time a request took. Here SELECTs made
outside a transaction go to one of a few connections opened once (`start_readers`, by the app's
lifespan) and answer in a single hop to their thread.

Only reads are pooled. The database runs in WAL mode and the connections in autocommit, so every
SELECT reads a fresh snapshot: it sees each write committed before it started (a revoked link, a
payment), and readers never wait for writers. Writes keep Piccolo's own path, a connection each,
so a write queued behind SQLite's single write lock never holds up the readers.

A read by key that returns a handful of rows (`read_now`, used through `core.db.fetch_by_key`)
takes tens of microseconds in SQLite, less than the hop to a reader thread and back; under load
that hop also waits for the GIL while the event loop serves other requests. Such reads run on the
event loop's own thread, on one more connection that never waits: if SQLite is busy (a WAL
recovery, say), the read goes to a reader thread as any other.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory
from piccolo.querystring import QueryString

READERS = 4
"""Read connections: a long read (a big staff listing) holds one; the portal's short reads take the others."""


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


@functools.lru_cache(maxsize=64)
def _question_marks(sql: str) -> str:
    """Piccolo's `{}` placeholders as sqlite3's `?` (our own statements: no braces but placeholders)."""
    return sql.replace("{}", "?")


class SQLiteReadPoolEngine(SQLiteEngine):
    """`SQLiteEngine` whose reads outside transactions share a few open connections while the pool is started."""

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._open: list[aiosqlite.Connection] = []
        self._on_loop: sqlite3.Connection | None = None
        self._users = 0

    @property
    def readers_open(self) -> bool:
        """True between the first `start_readers` and the last `close_readers`."""
        return self._readers is not None

    async def start_readers(self, size: int = READERS) -> None:
        """Open the read connections; nested calls share them (counted, closed by the last `close_readers`)."""
        self._users += 1
        if self._readers is not None:
            return
        readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        try:
            for _ in range(size):
                connection = await aiosqlite.connect(**self.connection_kwargs)
                self._open.append(connection)
                connection.row_factory = dict_factory  # type: ignore[assignment]  # sqlite3 takes any callable
                await connection.execute("PRAGMA foreign_keys = 1")
                readers.put_nowait(connection)
            self._on_loop = self._loop_connection()
        except BaseException:
            self._users -= 1
            await self._close_all()
            raise
        self._readers = readers

    async def close_readers(self) -> None:
        """Close the read connections once their last user is done (their threads would keep a process alive)."""
        self._users = max(self._users - 1, 0)
        if self._users == 0:
            self._readers = None
            await self._close_all()

    async def _close_all(self) -> None:
        connections, self._open = self._open, []
        on_loop, self._on_loop = self._on_loop, None
        if on_loop is not None:
            on_loop.close()
        for connection in connections:
            await connection.close()

    def _loop_connection(self) -> sqlite3.Connection:
        """The connection `read_now` uses: Piccolo's type conversions, autocommit, and no waiting on locks."""
        kwargs: dict[str, Any] = {**self.connection_kwargs, "timeout": 0, "isolation_level": None}
        # Only ever used from the event loop's thread, which may not be the one the lifespan opened it on.
        connection: sqlite3.Connection = sqlite3.connect(**kwargs, check_same_thread=False)
        connection.row_factory = dict_factory
        connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def read_now(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """A short read by key (`{}` parameters, as Piccolo's `raw`), on the loop's thread while that costs no waiting.

        Only for reads that touch a few rows through an index: anything longer would hold up every
        other request of the process while it runs. Inside a transaction, before the readers are
        open, or when SQLite is busy, it runs as any other read instead.
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
        return await self._read_on_reader(query, args)

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        """Reads outside a transaction on a pooled connection; everything else as Piccolo runs it."""
        if self._readers is None or not in_pool or self.current_transaction.get() is not None:
            return await super().run_querystring(querystring, in_pool=in_pool)
        query, args = querystring.compile_string(engine_type=self.engine_type)
        if not _is_read(query):
            return await super().run_querystring(querystring, in_pool=in_pool)
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=str(querystring))
        response = await self._read_on_reader(query, args)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response

    async def _read_on_reader(self, query: str, args: Any) -> list[dict[str, Any]]:
        readers = self._readers
        assert readers is not None
        connection = await readers.get()
        try:
            return list(await connection.execute_fetchall(query, args))  # type: ignore[arg-type]  # dict rows
        finally:
            readers.put_nowait(connection)
