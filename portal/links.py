"""Magic links: 32 random bytes in the email, only their SHA-256 in the database; expiring and revocable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from core.security import new_token, token_digest

MIN_LIFETIME = dt.timedelta(days=14)


def new_link_token() -> tuple[str, str]:
    """`(token, digest)`: the token goes in the email, the digest in the database."""
    token = new_token()
    return token, token_digest(token)


def link_url(base_url: str, token: str) -> str:
    """The emailed link: PORTAL_BASE_URL + /p/<token>."""
    return f"{base_url.rstrip('/')}/p/{token}"


def link_expiry(sent_at: dt.datetime, due_dates: Iterable[dt.date], lifetime_days: int) -> dt.datetime:
    """`lifetime_days` after the latest due date, and never sooner than 14 days after sending."""
    latest_due = max(due_dates, default=sent_at.date())
    after_due = dt.datetime.combine(latest_due, dt.time(23, 59, 59), tzinfo=dt.UTC) + dt.timedelta(days=lifetime_days)
    return max(after_due, sent_at + MIN_LIFETIME)
