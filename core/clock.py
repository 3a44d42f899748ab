"""One place to ask the time, so tests can move it."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored time as aware UTC (SQLite hands back naive datetimes; every stored time is UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
