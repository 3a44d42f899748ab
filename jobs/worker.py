"""The SAQ worker: which functions it runs, its cron table, and automatic heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from typing import Any

from saq.job import CronJob
from saq.queue import Queue
from saq.types import PartialTimersDict
from saq.worker import Worker

from core.stripe_gateway import StripeGateway
from jobs import alerts, collections, ledger, maintenance, payments, reminders, requests
from ledger.clients import LedgerContext

JobFunction = Callable[..., Any]

SWEEP_SECONDS = 15
"""How often a worker looks for jobs whose worker died (no heartbeat) and retries them."""


def product_functions() -> list[JobFunction]:
    """Every job function the product enqueues."""
    return [
        maintenance.purge_expired_entries,
        maintenance.refresh_statistics,
        ledger.sync_connection_job,
        ledger.sync_all_connections,
        requests.dispatch_batch,
        requests.deliver_payment_request,
        requests.requeue_lost_deliveries,
        alerts.send_staff_alert,
        payments.write_back_payment,
        payments.send_receipt,
        payments.reverse_write_back,
        payments.requeue_write_backs,
        payments.requeue_receipts,
        payments.confirm_unanswered_payments,
        collections.run_due_collections,
        collections.collect_payment,
        collections.follow_up_collection,
        reminders.send_reminders,
    ]


def product_cron_jobs(sync_interval_minutes: int = 15) -> list[CronJob[Any]]:
    """Scheduled jobs, each with an explicit timeout and ttl."""
    return [
        CronJob(maintenance.purge_expired_entries, cron=maintenance.PURGE_EXPIRED_CRON, timeout=120, ttl=600),
        CronJob(maintenance.refresh_statistics, cron=maintenance.STATISTICS_CRON, timeout=300, ttl=600),
        CronJob(ledger.sync_all_connections, cron=f"*/{sync_interval_minutes} * * * *", timeout=120, ttl=60),
        CronJob(collections.run_due_collections, cron="* * * * *", timeout=120, ttl=60),
        CronJob(payments.requeue_write_backs, cron="* * * * *", timeout=120, ttl=60),
        CronJob(payments.requeue_receipts, cron="* * * * *", timeout=120, ttl=60),
        CronJob(payments.confirm_unanswered_payments, cron="* * * * *", timeout=120, ttl=60),
        CronJob(requests.requeue_lost_deliveries, cron="*/5 * * * *", timeout=120, ttl=60),
        CronJob(reminders.send_reminders, cron=reminders.REMINDER_CRON, timeout=600, ttl=3600),
    ]


async def _start_heartbeat(ctx: dict[str, Any]) -> None:
    """Touch the running job every few seconds so a sweep can tell a live worker from a dead one."""
    job = ctx["job"]
    if not job.heartbeat:
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(max(job.heartbeat / 3, 0.2))
            await job.update()

    ctx["heartbeat_task"] = asyncio.create_task(beat())


async def _stop_heartbeat(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] | None = ctx.pop("heartbeat_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def build_worker(
    queue: Queue,
    *,
    functions: Collection[JobFunction] | None = None,
    cron_jobs: Collection[CronJob[Any]] | None = None,
    context: dict[str, Any] | None = None,
    concurrency: int = 8,
    sweep_seconds: int = SWEEP_SECONDS,
    handle_signals: bool = True,
) -> Worker[Any]:
    """A worker for `queue`; `context` is shared with every job (settings, HTTP client…).

    `handle_signals=False` is for a worker inside another server (uvicorn), which owns SIGINT/SIGTERM.
    """
    shared = dict(context or {})

    async def startup(ctx: dict[str, Any]) -> None:
        # SAQ copies this start-up context into every job's, so what is made here is shared.
        ctx.update(shared)
        ctx["queue"] = queue
        if "settings" in shared and "http" in shared and "ledger" not in shared:
            ctx["ledger"] = LedgerContext.create(shared["settings"], shared["http"])
        if "settings" in shared and "stripe" not in shared and shared["settings"].stripe_secret_key:
            ctx["stripe"] = ctx["own_stripe"] = StripeGateway(shared["settings"])

    async def shutdown(ctx: dict[str, Any]) -> None:
        gateway: StripeGateway | None = ctx.pop("own_stripe", None)
        if gateway is not None:
            await gateway.aclose()

    timers: PartialTimersDict = {"sweep": max(sweep_seconds, 1)}  # type: ignore[typeddict-item]
    worker: Worker[Any] = Worker(
        queue,
        functions=list(functions if functions is not None else product_functions()),
        cron_jobs=list(cron_jobs if cron_jobs is not None else product_cron_jobs(_sync_interval(shared))),
        concurrency=concurrency,
        startup=startup,
        shutdown=shutdown,
        before_process=_start_heartbeat,
        after_process=_stop_heartbeat,
        timers=timers,
    )
    if not handle_signals:
        worker.SIGNALS = []
    return worker


def _sync_interval(context: dict[str, Any]) -> int:
    settings = context.get("settings")
    return int(getattr(settings, "sync_interval_minutes", 15))
