"""Housekeeping jobs."""

from __future__ import annotations

from typing import Any

from core.store import purge_expired

PURGE_EXPIRED_CRON = "17 * * * *"


async def purge_expired_entries(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete expired sessions and rate-limit counters."""
    return {"deleted": await purge_expired()}
