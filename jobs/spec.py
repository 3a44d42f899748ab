"""Explicit retry, timeout and heartbeat policy for every job (SAQ's defaults lose killed jobs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from saq.job import Job
from saq.queue import Queue


@dataclass(frozen=True)
class JobSpec:
    """How one kind of job is run: the function name and its failure policy."""

    name: str
    timeout: int = 60
    """Seconds before the job is cancelled and retried."""
    heartbeat: int = 30
    """Seconds without a heartbeat after which a sweep treats the worker as dead and retries."""
    retries: int = 5
    """Total attempts, the first included."""
    retry_delay: float = 5.0
    retry_backoff: float | bool = 300.0
    """Exponential backoff from retry_delay, capped at this many seconds."""
    ttl: int = 24 * 3600
    """Seconds a finished job's result is kept.

    SAQ ignores a key only while its job is queued or running; a finished job's key can run again.
    Every job is therefore safe to run twice on its own (status checks, idempotency keys), and keys
    only keep duplicates from piling up in the queue.
    """


class RetryLater(Exception):
    """Raised so SAQ retries the job with its backoff."""


def retry_mail_later(ctx: dict[str, Any], reason: str) -> RetryLater:
    """The exception that retries a mail job on the configured schedule (`Settings.mail_retry_seconds`).

    SAQ computes the next delay from the job's own fields when it retries it, so the schedule applies to
    every mail job however it was queued (a first send, a resend, a recovered one).
    """
    job = ctx["job"]
    job.retry_delay = ctx["settings"].mail_retry_seconds
    job.retry_backoff = ctx["settings"].mail_retry_seconds * 60
    return RetryLater(reason)


async def enqueue(queue: Queue, spec: JobSpec, *, key: str, **kwargs: Any) -> Job | None:
    """Enqueue `spec` under `key`; returns None when a job with that key is already queued or running."""
    return await queue.enqueue(
        spec.name,
        key=key,
        timeout=spec.timeout,
        heartbeat=spec.heartbeat,
        retries=spec.retries,
        retry_delay=spec.retry_delay,
        retry_backoff=spec.retry_backoff,
        ttl=spec.ttl,
        **kwargs,
    )
