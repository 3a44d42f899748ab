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
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory
from piccolo.querystring import QueryString

READERS = 4
"""Read connections: a long read (a big staff listing) holds one; the portal's short reads take the others."""


def _is_read(sql: str) -> bool:
    return sql.lstrip()[:6].upper() == "SELECT"


class SQLiteReadPoolEngine(SQLiteEngine):
    """`SQLiteEngine` whose reads outside transactions share a few open connections while the pool is started."""

    def __init__(self, path: str, **connection_kwargs: Any) -> None:
        super().__init__(path=path, **connection_kwargs)
        self._readers: asyncio.Queue[aiosqlite.Connection] | None = None
        self._open: list[aiosqlite.Connection] = []
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
        for connection in connections:
            await connection.close()

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        """Reads outside a transaction on a pooled connection; everything else as Piccolo runs it."""
        readers = self._readers
        if readers is None or not in_pool or self.current_transaction.get() is not None:
            return await super().run_querystring(querystring, in_pool=in_pool)
        query, args = querystring.compile_string(engine_type=self.engine_type)
        if not _is_read(query):
            return await super().run_querystring(querystring, in_pool=in_pool)
        query_id = self.get_query_id()
        if self.log_queries:
            self.print_query(query_id=query_id, query=str(querystring))
        connection = await readers.get()
        try:
            response = list(await connection.execute_fetchall(query, args))
        finally:
            readers.put_nowait(connection)
        if self.log_responses:
            self.print_response(query_id=query_id, response=response)
        return response
