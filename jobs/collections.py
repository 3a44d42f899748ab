"""Scheduled collections: the every-minute cron that claims due ones, and the job that charges each."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from saq.queue import Queue

from core.clock import utcnow
from core.db import write_transaction
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
    follow_ups_due,
    processing_collection_ids,
    take_follow_up,
)
from portal.tables import ScheduledCollection
from staff.alerts import alert_staff
from staff.client_notices import ClientNotice, StoredNotice, literal, send_stored_notice, store_client_notice

log = structlog.get_logger()

COLLECT = JobSpec(name="collect_payment", timeout=120, heartbeat=10, retries=8, retry_delay=5.0, retry_backoff=1800.0)
"""Stripe or ledger trouble is retried with backoff; the cron also re-queues unfinished collections."""

DECLINED_SUBJECT = "Your payment for {invoice_numbers} didn't go through"
AUTHENTICATE_SUBJECT = "Please confirm your payment for {invoice_numbers}"


FOLLOW_UP = JobSpec(name="follow_up_collection", timeout=120, retries=8, retry_delay=5.0, retry_backoff=1800.0)
"""The emails and jobs of an outcome whose own run died before doing them (queued by the cron)."""


async def enqueue_collection(queue: Queue, collection_id: uuid.UUID | str) -> None:
    """Queue the charge of one collection (keyed: at most one run at a time)."""
    await enqueue(queue, COLLECT, key=f"collect:{collection_id}", collection_id=str(collection_id))


async def run_due_collections(ctx: dict[str, Any], *, now: str | None = None) -> dict[str, int]:
    """Claim the collections due today and queue a charge for each claimed, unfinished one.

    Also queues the follow-up of every outcome left without one (its run died right after recording it).
    `now` (ISO 8601) stands in for the clock, for tests and for catching up by hand.
    """
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    claimed = await claim_collections(await due_collection_ids(moment))
    pending = await processing_collection_ids()
    for collection_id in pending:
        await enqueue_collection(ctx["queue"], collection_id)
    orphans = await follow_ups_due(moment)
    for collection_id in orphans:
        await enqueue(ctx["queue"], FOLLOW_UP, key=f"follow-up:{collection_id}", collection_id=str(collection_id))
    return {"claimed": len(claimed), "queued": len(pending), "follow_ups": len(orphans)}


async def collect_payment(ctx: dict[str, Any], *, collection_id: str) -> dict[str, str]:
    """Charge one collection (claiming it first when it was scheduled for now), then email and record."""
    gateway: StripeGateway | None = ctx.get("stripe")
    if gateway is None:
        return {"status": "stripe not configured"}
    collection_uuid = uuid.UUID(collection_id)
    now = utcnow()
    await claim_collections(await due_collection_ids(now, among=[collection_uuid]))
    result = await collect(gateway, ledger_context(ctx), collection_uuid, now=now)
    await follow_up_collection(ctx, collection_id=collection_id)
    return {"status": result.status}


async def follow_up_collection(ctx: dict[str, Any], *, collection_id: str) -> dict[str, str]:
    """The emails and jobs the collection's recorded outcome calls for, exactly once.

    Taking the stored outcome commits with the client's notice, so a run that dies before that commit
    leaves it for the cron, and one that dies after has written the notice (its email is a queued request).
    """
    queue: Queue = ctx["queue"]
    collection_uuid = uuid.UUID(collection_id)
    async with write_transaction():
        result = await take_follow_up(collection_uuid)
        if result is None:
            return {"status": "nothing to do"}
        invoice = await _invoice_of(collection_uuid) if result.status != "succeeded" else None
        notice = await _store_notice(invoice, result) if invoice is not None else None
    if result.status == "succeeded" and result.payment_id:
        await enqueue_write_back(queue, result.payment_id)
        await enqueue_receipt(queue, result.payment_id)
    if notice is not None:
        await send_stored_notice(queue, notice)
    if result.status == "failed" and invoice is not None:
        await _alert_staff(ctx["settings"], queue, invoice, result)
    return {"status": result.status}


async def _store_notice(invoice: Invoice, result: CollectionResult) -> StoredNotice:
    """The client's email about a declined charge or one their bank wants confirmed."""
    if result.status == "requires_action":
        return await _notice(
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
    retry = f"We will try your card again on {result.retry_on:%-d %B %Y}, or you" if result.retry_on else "You"
    reason = literal(result.message or "The card was declined.")
    return await _notice(
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


async def _invoice_of(collection_id: uuid.UUID) -> Invoice:
    collection = await ScheduledCollection.objects().where(ScheduledCollection.id == collection_id).first()
    assert collection is not None
    invoice = await Invoice.objects().where(Invoice.id == collection.invoice).first()
    assert invoice is not None
    return invoice


async def _alert_staff(settings: Settings, queue: Queue, invoice: Invoice, result: CollectionResult) -> None:
    """Tell the firm's admins about a declined collection (best effort, after the client's notice)."""
    amount = format_money(invoice.amount_due_minor, invoice.currency)
    await alert_staff(
        settings,
        invoice.workspace,
        queue=queue,
        subject=f"Collection of {invoice.number} declined",
        text=(
            f"The scheduled collection of {amount} for {invoice.number} was declined "
            f"({result.decline_code}): {result.message}. "
            + (f"It will be retried on {result.retry_on:%-d %b %Y}." if result.retry_on else "It will not be retried.")
            + " The client was emailed a link to pay or update their card."
        ),
    )


async def _notice(invoice: Invoice, *, subject: str, message: str, kind: str, detail: str) -> StoredNotice:
    """A request email about this one invoice, with a fresh link to the portal."""
    notice = ClientNotice(
        workspace_id=invoice.workspace,
        client_id=invoice.client,
        invoice_ids=[invoice.id],
        subject=subject,
        message=message,
        kind=kind,
        detail=detail,
        created_by="collections",
    )
    return await store_client_notice(notice)
