"""Shared pieces of the fault tests: a worker of the test's own on a queue of its own, and waiting."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import msgspec
from saq.queue import Queue

from core.queue import make_queue
from core.settings import Settings
from jobs.worker import build_worker


def private_settings(settings: Settings, **changes: Any) -> Settings:
    """The session's settings on a queue name of their own, with `changes` (e.g. an SMTP server that fails)."""
    return msgspec.structs.replace(settings, queue_name=f"faults-{uuid.uuid4().hex[:8]}", **changes)


@contextlib.asynccontextmanager
async def private_queue(settings: Settings, embedded_socket: str | None) -> AsyncIterator[Queue]:
    """The queue the settings name, connected for the block (only the test's own worker works it)."""
    queue = make_queue(settings, embedded_socket=embedded_socket)
    await queue.connect()
    try:
        yield queue
    finally:
        await queue.disconnect()


@contextlib.asynccontextmanager
async def running_worker(queue: Queue, settings: Settings, **context: Any) -> AsyncIterator[dict[str, Any]]:
    """The product's worker (jobs, heartbeats, sweeps, retry policy) on `queue`, without its cron table.

    The tests tick the crons themselves (they run every minute in production). Yields the shared job
    context, so a test can call a cron function the way the worker would.
    """
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        shared = {"settings": settings, "http": http, **context}
        worker = build_worker(queue, context=shared, cron_jobs=[], sweep_seconds=1, handle_signals=False)
        task = asyncio.create_task(worker.start())
        try:
            yield {**shared, "queue": queue}
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def until(check: Callable[[], Awaitable[bool]], *, seconds: float, every: float = 0.1) -> None:
    """Wait for `check` to hold, failing after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {seconds} s")
        await asyncio.sleep(every)
