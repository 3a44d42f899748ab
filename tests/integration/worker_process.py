"""A real worker process for crash tests: `python -m tests.integration.worker_process`.

It runs the product's worker setup (heartbeats, sweep, retry policy) with one test job
that records its progress in files, so the test can kill it mid-job.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from core.queue import make_queue
from core.settings import Settings
from jobs.worker import build_worker


async def slow_job(ctx: dict[str, Any], *, marker_dir: str, seconds: float) -> dict[str, int]:
    """Mark the start, work for a while, mark the end."""
    directory = Path(marker_dir)
    with (directory / "starts").open("a") as starts:
        starts.write(f"{os.getpid()}\n")
    await asyncio.sleep(seconds)
    with (directory / "done").open("a") as done:
        done.write(f"{os.getpid()}\n")
    return {"pid": os.getpid()}


async def main() -> None:
    """Work the queue named in the environment until killed."""
    settings = Settings(queue_url=os.environ.get("TEST_QUEUE_URL") or None, queue_name=os.environ["TEST_QUEUE_NAME"])
    queue = make_queue(settings, embedded_socket=os.environ.get("TEST_EMBEDDED_SOCKET"))
    worker = build_worker(queue, functions=[slow_job], cron_jobs=[], sweep_seconds=1, concurrency=2)
    await worker.start()


if __name__ == "__main__":
    asyncio.run(main())
