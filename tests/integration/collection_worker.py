"""A real product worker process for the collection crash test: `python -m tests.integration.collection_worker`.

It is `portal worker` with the test's settings (passed as JSON, so it reaches the same database, queue,
localstripe, Xero sandbox and SMTP server) and without the cron table, which the test drives itself.
"""

from __future__ import annotations

import os

import httpx
import msgspec

from core.cli import run_with_database
from core.queue import make_queue
from core.settings import Settings
from jobs.worker import build_worker


async def work(settings: Settings) -> None:
    """Run the product's jobs from the test's queue until killed."""
    queue = make_queue(settings, embedded_socket=os.environ.get("TEST_EMBEDDED_SOCKET") or None)
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        worker = build_worker(
            queue, context={"settings": settings, "http": http}, cron_jobs=[], sweep_seconds=1, concurrency=8
        )
        await worker.start()


def main() -> None:
    """Read the settings from TEST_SETTINGS_JSON and work."""
    settings = msgspec.json.decode(os.environ["TEST_SETTINGS_JSON"], type=Settings)
    run_with_database(settings, lambda: work(settings))


if __name__ == "__main__":
    main()
