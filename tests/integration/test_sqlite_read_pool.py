"""SQLite's pooled and on-loop connections: reads never show stale data; this process's writers take turns."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from piccolo.engine.sqlite import TransactionType
from piccolo.querystring import QueryString

from core.db import connected, engine_for_url
from core.sqlite_engine import SQLitePoolEngine


async def _values(engine: SQLitePoolEngine) -> list[str]:
    rows = await engine.run_querystring(QueryString("SELECT value FROM item ORDER BY value"))
    return [row["value"] for row in rows]


async def test_pooled_reads_see_every_committed_write(tmp_path: Path) -> None:
    engine = engine_for_url(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    assert isinstance(engine, SQLitePoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")
        assert await _values(engine) == []
        # Every reader has read once, so each would hold an old snapshot if one were left open.
        for _ in range(8):
            assert await _values(engine) == []

        await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "a"))
        for _ in range(8):
            assert await _values(engine) == ["a"]

        async with engine.transaction():
            await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "b"))
            # Inside the transaction a read goes through its connection and sees its own write...
            assert await _values(engine) == ["a", "b"]
        # ...and once committed every pooled reader sees it too.
        for _ in range(8):
            assert await _values(engine) == ["a", "b"]

        await engine.run_querystring(QueryString("DELETE FROM item WHERE value = {}", "a"))
        assert await _values(engine) == ["b"]


async def test_readers_close_with_their_last_user(tmp_path: Path) -> None:
    engine = engine_for_url(f"sqlite:///{tmp_path / 'nested.sqlite3'}")
    assert isinstance(engine, SQLitePoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")
        async with connected(engine):
            assert await _values(engine) == []
        assert engine.readers_open  # the outer block still uses them
        assert await _values(engine) == []
    assert not engine.readers_open
    assert await _values(engine) == []  # without readers, Piccolo's own connection per query


async def test_a_write_transaction_queued_behind_a_stream_of_writes_goes_in_its_turn(tmp_path: Path) -> None:
    """Writers of one process take turns: a transaction waits for the writes already queued, not for a gap."""
    engine = engine_for_url(f"sqlite:///{tmp_path / 'turns.sqlite3'}")
    assert isinstance(engine, SQLitePoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")
        done: list[str] = []
        stop = asyncio.Event()

        async def stream(name: str) -> None:
            while not stop.is_set():  # short writes, as the job worker's deliveries make
                if len(done) % 2:
                    await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", name))
                else:
                    async with engine.transaction(transaction_type=TransactionType.immediate):
                        await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", name))
                        await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", name))
                done.append(name)

        streams = [asyncio.create_task(stream(f"s{n}")) for n in range(8)]
        while len(done) < 40:
            await asyncio.sleep(0.001)
        queued_at = len(done)
        async with engine.transaction(transaction_type=TransactionType.immediate):
            entered_at = len(done)
            await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "big"))
        stop.set()
        await asyncio.gather(*streams)
        assert entered_at - queued_at <= len(streams)  # at most one write per streaming task went first
        assert "big" in await _values(engine)


async def test_the_writer_is_left_clean_by_a_failed_or_cancelled_transaction(tmp_path: Path) -> None:
    engine = engine_for_url(f"sqlite:///{tmp_path / 'clean.sqlite3'}")
    assert isinstance(engine, SQLitePoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")

        async def failing() -> None:
            async with engine.transaction(transaction_type=TransactionType.immediate):
                await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "undone"))
                raise RuntimeError("changed my mind")

        with pytest.raises(RuntimeError):
            await failing()

        started = asyncio.Event()

        async def slow() -> None:
            async with engine.transaction(transaction_type=TransactionType.immediate):
                await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "cancelled"))
                started.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

        await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "kept"))
        async with engine.transaction(transaction_type=TransactionType.immediate):
            await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "also kept"))
        assert await _values(engine) == ["also kept", "kept"]


async def _by_key(engine: SQLitePoolEngine, value: str) -> list[str]:
    return [row["value"] for row in await engine.read_now("SELECT value FROM item WHERE value = {}", value)]


async def test_reads_by_key_see_every_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "on-loop.sqlite3"
    engine = engine_for_url(f"sqlite:///{path}")
    assert isinstance(engine, SQLitePoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")
        assert await _by_key(engine, "a") == []
        await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "a"))
        assert await _by_key(engine, "a") == ["a"]
        async with engine.transaction():
            await engine.run_querystring(QueryString("INSERT INTO item (value) VALUES ({})", "b"))
            assert await _by_key(engine, "b") == ["b"]  # the transaction's own connection sees its write
        assert await _by_key(engine, "b") == ["b"]

    assert await _by_key(engine, "a") == ["a"]  # without readers, Piccolo's own path
