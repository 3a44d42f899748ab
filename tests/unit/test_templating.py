"""Template filters print what the pages always printed."""

from __future__ import annotations

import datetime as dt

from core.templating import format_day


def test_day_reads_as_strftime_did_for_every_month() -> None:
    for month in range(1, 13):
        day = dt.date(2026, month, 5 + month)
        assert format_day(day) == day.strftime("%-d %b %Y")
    moment = dt.datetime(2027, 1, 2, 23, 59, tzinfo=dt.UTC)
    assert format_day(moment) == "2 Jan 2027"
