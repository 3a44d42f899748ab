"""Ledger wire formats: Xero's `/Date(ms±zzzz)/`, ISO dates, and decimal amounts."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


class ParseError(ValueError):
    """A field in a ledger payload is not in the expected form."""


def parse_ledger_datetime(value: object) -> dt.datetime:
    """A UTC datetime from `/Date(1764028800000+0000)/` or an ISO 8601 string (naive = UTC)."""
    if not isinstance(value, str) or not value:
        raise ParseError(f"not a date: {value!r}")
    match = _MS_DATE.match(value)
    if match:
        # The milliseconds are UTC; the offset only says which zone the ledger displays.
        return dt.datetime.fromtimestamp(int(match.group(1)) / 1000, tz=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ParseError(f"not a date: {value!r}") from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def parse_ledger_date(value: object) -> dt.date:
    """A calendar date from either form (`/Date(…)/` at midnight UTC, or `2026-11-25[T00:00:00]`)."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ParseError(f"not a date: {value!r}") from None
    return parse_ledger_datetime(value).date()


def parse_amount(value: object) -> Decimal:
    """A JSON number or numeric string as an exact Decimal (never via float)."""
    if isinstance(value, bool) or value is None:
        raise ParseError(f"not an amount: {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ParseError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ParseError(f"not an amount: {value!r}")
    return amount


def xero_modified_since(moment: dt.datetime) -> str:
    """The `If-Modified-Since` value Xero expects: UTC, ISO 8601 without zone."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
