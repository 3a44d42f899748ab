"""Ledger jobs: sync one connection, and the schedule that syncs them all."""

from __future__ import annotations

import hashlib
from typing import Any

from saq.queue import Queue

from jobs.spec import JobSpec, enqueue
from ledger.clients import LedgerContext
from ledger.sync import sync_connection
from ledger.tables import LedgerConnection

SYNC = JobSpec(
    name="sync_connection_job", timeout=1800, heartbeat=60, retries=5, retry_delay=10.0, retry_backoff=600.0, ttl=60
)
"""A full sync may page through 50k invoices; a short ttl lets the next schedule run soon after."""


def ledger_context(ctx: dict[str, Any]) -> LedgerContext:
    """The worker's ledger context (made at start-up, so its per-tenant limits span every job)."""
    context = ctx.get("ledger")
    if context is None:  # A job context without start-up, e.g. called directly.
        context = LedgerContext.create(ctx["settings"], ctx["http"])
    assert isinstance(context, LedgerContext)
    return context


async def sync_connection_job(
    ctx: dict[str, Any], *, connection_id: str, invoice_ids: list[str] | None = None
) -> dict[str, Any]:
    """Sync one connection (or only the named invoices); safe to run twice."""
    report = await sync_connection(ledger_context(ctx), connection_id, invoice_ids=invoice_ids)
    return {"imported": report.imported, "updated": report.updated, "skipped": report.skipped_count}


async def enqueue_sync(queue: Queue, connection_id: str, *, invoice_ids: list[str] | None = None) -> str:
    """Queue a sync; one full sync per connection at a time (job key), targeted ones keyed by their ids."""
    if invoice_ids:
        digest = hashlib.sha256(",".join(sorted(invoice_ids)).encode()).hexdigest()[:16]
        key = f"resync:{connection_id}:{digest}"
        await enqueue(queue, SYNC, key=key, connection_id=connection_id, invoice_ids=sorted(invoice_ids))
    else:
        key = f"sync:{connection_id}"
        await enqueue(queue, SYNC, key=key, connection_id=connection_id)
    return key


async def sync_all_connections(ctx: dict[str, Any]) -> dict[str, int]:
    """The schedule: queue an incremental sync of every active connection."""
    rows = await LedgerConnection.select(LedgerConnection.id).where(LedgerConnection.status == "active")
    for row in rows:
        await enqueue_sync(ctx["queue"], str(row["id"]))
    return {"queued": len(rows)}
