"""Readiness: the database and the queue both answer."""

from __future__ import annotations

from saq.queue import Queue

from core.queue import queue_is_healthy
from core.tables import Workspace


async def database_is_healthy() -> bool:
    """True when a trivial query succeeds."""
    try:
        await Workspace.count()
    except Exception:
        return False
    return True


async def check_health(queue: Queue) -> dict[str, bool]:
    """Each dependency and whether it answered."""
    return {"database": await database_is_healthy(), "queue": await queue_is_healthy(queue)}
