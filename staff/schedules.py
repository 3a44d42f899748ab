"""Scheduling a collection against a client's saved card: now or on a date, rescheduled or cancelled until it runs."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import msgspec
from saq.queue import Queue

from core.clock import utcnow
from core.db import write_transaction
from core.errors import Conflict, Invalid, NotFound
from core.scope import WorkspaceScope, parse_id
from core.stripe_gateway import SavedCard, StripeGateway
from core.tables import Activity
from jobs.collections import enqueue_collection
from ledger.services import workspace_today
from ledger.tables import Client, Invoice
from portal.tables import ScheduledCollection

ACTIVE = ("scheduled", "processing")
MAX_SCHEDULE = 500
"""Invoices one bulk schedule takes (each asks Stripe for the client's cards)."""


class ScheduleIn(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /api/v1/invoices/{id}/schedule`: `collect_on` null means now."""

    collect_on: dt.date | None = None
    payment_method_id: str | None = None


class ScheduleOut(msgspec.Struct):
    """The collection as scheduled."""

    id: str
    status: str
    collect_on: dt.date
    payment_method_id: str


async def saved_cards(gateway: StripeGateway | None, client: Client) -> list[SavedCard]:
    """The client's cards kept with Stripe; none without a Stripe customer (or without Stripe)."""
    if gateway is None or not client.stripe_customer_id:
        return []
    return await gateway.list_payment_methods(client.stripe_customer_id)


async def schedule_collection(
    scope: WorkspaceScope,
    gateway: StripeGateway | None,
    queue: Queue,
    invoice_id: str,
    data: ScheduleIn,
    *,
    created_by: str,
    known_cards: dict[uuid.UUID, list[SavedCard]] | None = None,
) -> ScheduleOut:
    """Schedule (or reschedule) the invoice's collection; a date of today or none collects now.

    `known_cards` keeps each client's cards across the invoices of one bulk schedule (one Stripe call each).
    """
    invoice = await scope.objects(Invoice).where(Invoice.id == parse_id(invoice_id, what="invoice")).first()
    if invoice is None:
        raise NotFound("No such invoice.")
    if invoice.status in ("paid", "voided"):
        raise Invalid(f"Invoice {invoice.number} is {invoice.status}.", fields={"invoice_id": "Nothing to collect."})
    today = await workspace_today(scope)
    collect_on = data.collect_on or today
    if collect_on < today:
        raise Invalid("The collection date is in the past.", fields={"collect_on": f"Use {today} or later."})
    client = await Client.objects().where(Client.id == invoice.client).first()
    assert client is not None
    known = known_cards if known_cards is not None else {}
    if client.id not in known:
        known[client.id] = await saved_cards(gateway, client)
    cards = known[client.id]
    if not cards:
        raise Conflict(f"{client.name} has no saved payment method; send a payment request instead.")
    card = _chosen_card(cards, data.payment_method_id)
    collection_id = await _upsert(scope, invoice, card, collect_on, created_by)
    when = "today" if collect_on <= today else collect_on.strftime("%-d %b %Y")
    await Activity(
        workspace=scope.workspace_id,
        invoice_id=str(invoice.id),
        kind="collection_scheduled",
        detail=f"Collection from {card.brand} •••• {card.last4} scheduled for {when} by {created_by}",
    ).save()
    if collect_on <= today:
        await enqueue_collection(queue, collection_id)
    return ScheduleOut(id=str(collection_id), status="scheduled", collect_on=collect_on, payment_method_id=card.id)


def _chosen_card(cards: list[SavedCard], wanted: str | None) -> SavedCard:
    if wanted is None:
        return next((card for card in cards if card.is_default), cards[0])
    for card in cards:
        if card.id == wanted:
            return card
    raise Invalid("That payment method is not saved for this client.", fields={"payment_method_id": "Unknown."})


async def _upsert(
    scope: WorkspaceScope, invoice: Invoice, card: SavedCard, collect_on: dt.date, created_by: str
) -> uuid.UUID:
    """Move the pending collection, or add one; a collection already charging can't be changed."""
    async with write_transaction():
        current = await _active(scope, invoice.id)
        if current is not None and current.status != "scheduled":
            raise Conflict(f"The collection of {invoice.number} is already being processed.")
        if invoice.status == "processing":
            raise Conflict(f"A payment of {invoice.number} is in flight.")
        if current is not None:
            await ScheduledCollection.update(
                {
                    ScheduledCollection.collect_on: collect_on,
                    ScheduledCollection.payment_method_id: card.id,
                    ScheduledCollection.updated_at: utcnow(),
                }
            ).where((ScheduledCollection.id == current.id) & (ScheduledCollection.status == "scheduled"))
            return current.id
        collection = ScheduledCollection(
            workspace=scope.workspace_id,
            invoice=invoice.id,
            payment_method_id=card.id,
            collect_on=collect_on,
            status="scheduled",
            created_by=created_by,
        )
        await collection.save()
        return collection.id


async def cancel_collection(scope: WorkspaceScope, invoice_id: str, *, cancelled_by: str) -> None:
    """Cancel the invoice's pending collection; 409 once it is being charged, 404 when there is none."""
    invoice_uuid = parse_id(invoice_id, what="invoice")
    async with write_transaction():
        current = await _active(scope, invoice_uuid)
        if current is None:
            raise NotFound("No collection is scheduled for this invoice.")
        if current.status != "scheduled":
            raise Conflict("The collection is already being processed and can't be cancelled.")
        await ScheduledCollection.update(
            {
                ScheduledCollection.status: "cancelled",
                ScheduledCollection.note: f"Cancelled by {cancelled_by}",
                ScheduledCollection.updated_at: utcnow(),
            }
        ).where((ScheduledCollection.id == current.id) & (ScheduledCollection.status == "scheduled"))
        await Activity(
            workspace=scope.workspace_id,
            invoice_id=str(invoice_uuid),
            kind="collection_cancelled",
            detail=f"Scheduled collection cancelled by {cancelled_by}",
        ).save()


async def _active(scope: WorkspaceScope, invoice_id: uuid.UUID) -> ScheduledCollection | None:
    return (
        await scope.objects(ScheduledCollection)
        .where((ScheduledCollection.invoice == invoice_id) & ScheduledCollection.status.is_in(list(ACTIVE)))
        .first()
    )


@dataclass(frozen=True)
class Candidate:
    """One selected invoice on the schedule page, and whether it can be collected."""

    invoice_id: str
    number: str
    client_name: str
    amount_due: int
    currency: str
    collect_on: dt.date | None
    """The date already scheduled, if any."""
    reason: str | None
    """Why it can't be scheduled (no saved card, not outstanding); None when it can."""


async def schedule_candidates(scope: WorkspaceScope, invoice_ids: list[str]) -> list[Candidate]:
    """The selected invoices with what scheduling would do to each (no Stripe calls: the mirrored card flag)."""
    ids = [parse_id(value, what="invoice") for value in invoice_ids[:MAX_SCHEDULE]]
    rows = await scope.select(
        Invoice,
        Invoice.id,
        Invoice.number,
        Invoice.amount_due_minor,
        Invoice.currency,
        Invoice.status,
        Invoice.client.name,
        Invoice.client.has_saved_card,
    ).where(Invoice.id.is_in(ids or [uuid.UUID(int=0)]))
    pending = {
        row["invoice"]: row["collect_on"]
        for row in await scope.select(
            ScheduledCollection, ScheduledCollection.invoice, ScheduledCollection.collect_on
        ).where(
            ScheduledCollection.invoice.is_in(ids or [uuid.UUID(int=0)]) & (ScheduledCollection.status == "scheduled")
        )
    }
    candidates = []
    for row in sorted(rows, key=lambda row: (row["client.name"], row["number"])):
        reason = None
        if row["status"] != "outstanding":
            reason = f"{row['status']}, nothing to collect"
        elif not row["client.has_saved_card"]:
            reason = "no saved card (send a payment request instead)"
        candidates.append(
            Candidate(
                invoice_id=str(row["id"]),
                number=row["number"],
                client_name=row["client.name"],
                amount_due=row["amount_due_minor"],
                currency=row["currency"],
                collect_on=pending.get(row["id"]),
                reason=reason,
            )
        )
    return candidates


async def schedule_many(
    scope: WorkspaceScope,
    gateway: StripeGateway | None,
    queue: Queue,
    invoice_ids: list[str],
    collect_on: dt.date | None,
    *,
    created_by: str,
) -> tuple[int, list[str]]:
    """Schedule each invoice with its client's default card; returns how many, and why the others were not."""
    scheduled = 0
    problems: list[str] = []
    known_cards: dict[uuid.UUID, list[SavedCard]] = {}
    for invoice_id in invoice_ids[:MAX_SCHEDULE]:
        try:
            await schedule_collection(
                scope,
                gateway,
                queue,
                invoice_id,
                ScheduleIn(collect_on=collect_on),
                created_by=created_by,
                known_cards=known_cards,
            )
            scheduled += 1
        except (Conflict, Invalid, NotFound) as exc:
            problems.append(exc.message)
    return scheduled, problems
