"""Housekeeping jobs."""

from __future__ import annotations

from typing import Any

import core.piccolo_conf
from core.db import refresh_planner_statistics
from core.store import purge_expired

PURGE_EXPIRED_CRON = "17 * * * *"
STATISTICS_CRON = "41 * * * *"


async def purge_expired_entries(ctx: dict[str, Any]) -> dict[str, int]:
    """Delete expired sessions and rate-limit counters."""
    return {"deleted": await purge_expired()}


async def refresh_statistics(ctx: dict[str, Any]) -> dict[str, int]:
    """Keep the query planner's statistics current as invoices come and go (SQLite; a no-op on PostgreSQL)."""
    await refresh_planner_statistics(core.piccolo_conf.DB)
    return {"refreshed": 1}
