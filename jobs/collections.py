"""Scheduled collections: the every-minute cron that claims due ones, and the job that charges each."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from saq.queue import Queue

from core.clock import utcnow
from core.money import format_money
from core.settings import Settings
from core.stripe_gateway import StripeGateway
from jobs.ledger import ledger_context
from jobs.payments import enqueue_receipt, enqueue_write_back
from jobs.spec import JobSpec, enqueue
from ledger.tables import Invoice
from portal.collections import (
    CollectionResult,
    claim_collections,
    collect,
    due_collection_ids,
    processing_collection_ids,
)
from portal.tables import ScheduledCollection
from staff.alerts import alert_staff
from staff.client_notices import literal, queue_client_notice

log = structlog.get_logger()

COLLECT = JobSpec(name="collect_payment", timeout=120, heartbeat=10, retries=8, retry_delay=5.0, retry_backoff=1800.0)
"""Stripe or ledger trouble is retried with backoff; the cron also re-queues unfinished collections."""

DECLINED_SUBJECT = "Your payment for {invoice_numbers} didn't go through"
AUTHENTICATE_SUBJECT = "Please confirm your payment for {invoice_numbers}"


async def enqueue_collection(queue: Queue, collection_id: uuid.UUID | str) -> None:
    """Queue the charge of one collection (keyed: at most one run at a time)."""
    await enqueue(queue, COLLECT, key=f"collect:{collection_id}", collection_id=str(collection_id))


async def run_due_collections(ctx: dict[str, Any], *, now: str | None = None) -> dict[str, int]:
    """Claim the collections due today and queue a charge for each claimed, unfinished one.

    `now` (ISO 8601) stands in for the clock, for tests and for catching up by hand.
    """
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    claimed = await claim_collections(await due_collection_ids(moment))
    pending = await processing_collection_ids()
    for collection_id in pending:
        await enqueue_collection(ctx["queue"], collection_id)
    return {"claimed": len(claimed), "queued": len(pending)}


async def collect_payment(ctx: dict[str, Any], *, collection_id: str) -> dict[str, str]:
    """Charge one collection (claiming it first when it was scheduled for now), then email and record."""
    gateway: StripeGateway | None = ctx.get("stripe")
    if gateway is None:
        return {"status": "stripe not configured"}
    collection_uuid = uuid.UUID(collection_id)
    now = utcnow()
    await claim_collections(await due_collection_ids(now, among=[collection_uuid]))
    result = await collect(gateway, ledger_context(ctx), collection_uuid, now=now)
    await _follow_up(ctx, result)
    return {"status": result.status}


async def _follow_up(ctx: dict[str, Any], result: CollectionResult) -> None:
    """The emails and jobs an outcome calls for; runs once per outcome (a repeated run comes back `skipped`)."""
    queue: Queue = ctx["queue"]
    if result.status == "succeeded" and result.payment_id:
        await enqueue_write_back(queue, result.payment_id)
        await enqueue_receipt(queue, result.payment_id)
        return
    if result.status not in ("failed", "requires_action"):
        return
    collection = (
        await ScheduledCollection.objects().where(ScheduledCollection.id == uuid.UUID(result.collection_id)).first()
    )
    assert collection is not None
    invoice = await Invoice.objects().where(Invoice.id == collection.invoice).first()
    assert invoice is not None
    if result.status == "requires_action":
        await _email_client(
            queue,
            invoice,
            subject=AUTHENTICATE_SUBJECT,
            message=(
                "Hi {client_name},\n\n"
                "We tried to collect {amount_due} for {invoice_numbers} from your saved card, and your bank "
                "asked you to confirm the payment. Nothing has been charged. Please confirm and pay with the "
                "link below; it takes a minute.\n\nThank you,\n{firm_name}"
            ),
            kind="authentication_requested",
            detail="Client emailed to confirm the payment with their bank",
        )
        return
    retry = f"We will try your card again on {result.retry_on:%-d %B %Y}, or you" if result.retry_on else "You"
    reason = literal(result.message or "The card was declined.")
    await _email_client(
        queue,
        invoice,
        subject=DECLINED_SUBJECT,
        message=(
            "Hi {client_name},\n\n"
            f"We tried to collect {{amount_due}} for {{invoice_numbers}} from your saved card, but the payment "
            f"didn't go through: {reason}\n\n"
            f"{retry} can pay now or update your card with the link below.\n\nThank you,\n{{firm_name}}"
        ),
        kind="decline_notified",
        detail="Client emailed about the declined collection",
    )
    settings: Settings = ctx["settings"]
    amount = format_money(invoice.amount_due_minor, invoice.currency)
    await alert_staff(
        settings,
        collection.workspace,
        queue=queue,
        subject=f"Collection of {invoice.number} declined",
        text=(
            f"The scheduled collection of {amount} for {invoice.number} was declined "
            f"({result.decline_code}): {result.message}. "
            + (f"It will be retried on {result.retry_on:%-d %b %Y}." if result.retry_on else "It will not be retried.")
            + " The client was emailed a link to pay or update their card."
        ),
    )


async def _email_client(queue: Queue, invoice: Invoice, *, subject: str, message: str, kind: str, detail: str) -> None:
    """A request email about this one invoice, with a fresh link to the portal."""
    await queue_client_notice(
        queue,
        workspace_id=invoice.workspace,
        client_id=invoice.client,
        invoice_ids=[invoice.id],
        subject=subject,
        message=message,
        kind=kind,
        detail=detail,
        created_by="collections",
    )
