"""SQLite's pooled and on-loop read connections never show stale data and leave transactions alone."""

from __future__ import annotations

from pathlib import Path

from piccolo.querystring import QueryString

from core.db import connected, engine_for_url
from core.sqlite_engine import SQLiteReadPoolEngine


async def _values(engine: SQLiteReadPoolEngine) -> list[str]:
    rows = await engine.run_querystring(QueryString("SELECT value FROM item ORDER BY value"))
    return [row["value"] for row in rows]


async def test_pooled_reads_see_every_committed_write(tmp_path: Path) -> None:
    engine = engine_for_url(f"sqlite:///{tmp_path / 'pool.sqlite3'}")
    assert isinstance(engine, SQLiteReadPoolEngine)
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
    assert isinstance(engine, SQLiteReadPoolEngine)
    async with connected(engine):
        await engine.run_ddl("CREATE TABLE item (value TEXT NOT NULL)")
        async with connected(engine):
            assert await _values(engine) == []
        assert engine.readers_open  # the outer block still uses them
        assert await _values(engine) == []
    assert not engine.readers_open
    assert await _values(engine) == []  # without readers, Piccolo's own connection per query


async def _by_key(engine: SQLiteReadPoolEngine, value: str) -> list[str]:
    return [row["value"] for row in await engine.read_now("SELECT value FROM item WHERE value = {}", value)]


async def test_reads_by_key_see_every_committed_write(tmp_path: Path) -> None:
    path = tmp_path / "on-loop.sqlite3"
    engine = engine_for_url(f"sqlite:///{path}")
    assert isinstance(engine, SQLiteReadPoolEngine)
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
