"""A Litestar `Store` on the database: server-side sessions and rate-limit counters shared by every worker."""

from __future__ import annotations

import datetime as dt

import msgspec
from litestar.stores.base import Store

from core.clock import as_utc, utcnow
from core.tables import KeyValue


def _expiry(expires_in: int | dt.timedelta | None) -> dt.datetime | None:
    if expires_in is None:
        return None
    seconds = expires_in if isinstance(expires_in, int) else int(expires_in.total_seconds())
    return utcnow() + dt.timedelta(seconds=seconds)


class DatabaseStore(Store):
    """Keys live in the `key_value` table; expired rows read as absent and are purged by a job."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    async def set(self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None) -> None:
        """Insert or replace a value."""
        data = value.encode() if isinstance(value, str) else value
        expires_at = _expiry(expires_in)
        await KeyValue.insert(KeyValue(key=self._key(key), value=data, expires_at=expires_at)).on_conflict(
            target=KeyValue.key,
            action="DO UPDATE",
            values=[KeyValue.value, KeyValue.expires_at],
        )

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        """The value, or None when absent or expired."""
        # Plain SQL: every page view with a session runs this, and building it with Piccolo cost more than running it.
        rows = await KeyValue.raw(_GET_SQL, self._key(key))
        row = rows[0] if rows else None
        if row is None or _expired(row["expires_at"]):
            return None
        if renew_for is not None and row["expires_at"] is not None:
            await KeyValue.update({KeyValue.expires_at: _expiry(renew_for)}).where(KeyValue.key == self._key(key))
        return bytes(row["value"])

    async def delete(self, key: str) -> None:
        """Remove a key if present."""
        await KeyValue.delete().where(KeyValue.key == self._key(key))

    async def delete_all(self) -> None:
        """Remove every key of this namespace."""
        await KeyValue.delete().where(KeyValue.key.like(f"{self.namespace}:%"))

    async def exists(self, key: str) -> bool:
        """True when the key holds an unexpired value."""
        return await self.get(key) is not None

    async def expires_in(self, key: str) -> int | None:
        """Seconds until the key expires, or None."""
        row = await KeyValue.select(KeyValue.expires_at).where(KeyValue.key == self._key(key)).first()
        if row is None or row["expires_at"] is None or _expired(row["expires_at"]):
            return None
        return int((as_utc(row["expires_at"]) - utcnow()).total_seconds())


_GET_SQL = 'SELECT value, expires_at FROM key_value WHERE "key" = {}'


def _expired(expires_at: dt.datetime | None) -> bool:
    return expires_at is not None and as_utc(expires_at) <= utcnow()


async def purge_expired() -> int:
    """Delete expired entries; returns how many went."""
    rows = await KeyValue.delete().where(KeyValue.expires_at < utcnow()).returning(KeyValue.key)
    return len(rows)


class _Window(msgspec.Struct):
    count: int
    reset_at: float


class RateLimiter:
    """Fixed-window counters for sign-in and link requests (per key, e.g. email or IP)."""

    def __init__(self, store: Store, *, limit: int, window_seconds: int) -> None:
        self.store = store
        self.limit = limit
        self.window_seconds = window_seconds

    async def retry_after(self, key: str) -> int:
        """Seconds until `key` may try again; 0 when it is not throttled."""
        window = await self._window(key)
        if window is None or window.count < self.limit:
            return 0
        return max(int(window.reset_at - utcnow().timestamp()) + 1, 1)

    async def hit(self, key: str) -> None:
        """Count one attempt against `key`."""
        now = utcnow().timestamp()
        window = await self._window(key) or _Window(count=0, reset_at=now + self.window_seconds)
        window.count += 1
        await self.store.set(key, msgspec.json.encode(window), expires_in=max(int(window.reset_at - now), 1))

    async def reset(self, key: str) -> None:
        """Forget the attempts of `key` (after a successful sign-in)."""
        await self.store.delete(key)

    async def _window(self, key: str) -> _Window | None:
        raw = await self.store.get(key)
        if raw is None:
            return None
        window = msgspec.json.decode(raw, type=_Window)
        return window if window.reset_at > utcnow().timestamp() else None
