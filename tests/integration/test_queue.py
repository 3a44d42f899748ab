"""The job queue: keyed jobs run once, and a killed worker's job is picked up again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from saq.job import Status
from saq.queue import Queue

from core.queue import make_queue
from core.settings import Settings
from jobs.spec import JobSpec, enqueue
from jobs.worker import build_worker

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def private_queue(settings: Settings, embedded_socket: str | None) -> AsyncIterator[Queue]:
    """A queue of its own, so the app's worker never takes these test jobs."""
    queue = make_queue(
        msgspec.structs.replace(settings, queue_name=f"jobs-{uuid.uuid4().hex[:8]}"), embedded_socket=embedded_socket
    )
    await queue.connect()
    yield queue
    await queue.disconnect()


RUNS: list[str] = []


async def record_run(ctx: dict[str, Any], *, label: str) -> int:
    """A job that remembers each run."""
    RUNS.append(label)
    await asyncio.sleep(0.2)
    return len(RUNS)


async def test_same_key_enqueued_twice_runs_once(private_queue: Queue) -> None:
    RUNS.clear()
    spec = JobSpec(name="record_run", timeout=10, heartbeat=5, retries=1)
    first = await enqueue(private_queue, spec, key="sync:connection-1", label="first")
    second = await enqueue(private_queue, spec, key="sync:connection-1", label="second")
    assert first is not None
    assert second is None

    worker = build_worker(private_queue, functions=[record_run], cron_jobs=[], handle_signals=False)
    task = asyncio.create_task(worker.start())
    try:
        await first.refresh(until_complete=10)
        await asyncio.sleep(0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert RUNS == ["first"]
    assert first.status == Status.COMPLETE


def _start_worker(queue: Queue, settings: Settings, socket: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEST_QUEUE_NAME": queue.name,
        "TEST_QUEUE_URL": settings.queue_url or "",
        "TEST_EMBEDDED_SOCKET": socket or "",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.worker_process"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _wait_for(path: Path, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path.name} never appeared")


async def test_job_of_a_sigkilled_worker_is_retried_by_another(
    private_queue: Queue, settings: Settings, embedded_socket: str | None, tmp_path: Path
) -> None:
    spec = JobSpec(name="slow_job", timeout=60, heartbeat=2, retries=3, retry_delay=0.0, retry_backoff=False)
    job = await enqueue(private_queue, spec, key="crash-test", marker_dir=str(tmp_path), seconds=2.0)
    assert job is not None

    doomed = _start_worker(private_queue, settings, embedded_socket)
    try:
        first_start = await _wait_for(tmp_path / "starts", 20)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            doomed.kill()
    assert first_start.strip() == str(doomed.pid)
    assert not (tmp_path / "done").exists()

    survivor = _start_worker(private_queue, settings, embedded_socket)
    try:
        done = await _wait_for(tmp_path / "done", 40)
        await job.refresh(until_complete=30)  # the marker is written just before SAQ records the end: slow under load
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=15)
    assert done.split() == [str(survivor.pid)]
    assert job.status == Status.COMPLETE
    assert job.attempts == 2
