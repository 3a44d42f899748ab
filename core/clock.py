"""One place to ask the time, so tests can move it."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored time as aware UTC (SQLite hands back naive datetimes; every stored time is UTC)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def local_date(now: dt.datetime, timezone: str) -> dt.date:
    """The calendar date at `now` in an IANA time zone (a workspace's "today"); unknown zones read as UTC."""
    try:
        zone: dt.tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    return as_utc(now).astimezone(zone).date()


def add_business_days(start: dt.date, days: int) -> dt.date:
    """The date `days` working days (Monday to Friday) after `start`."""
    current = start
    remaining = days
    while remaining > 0:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current
