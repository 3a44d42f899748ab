"""Stripe webhook events: each event id processed once, the object re-fetched instead of trusting order."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, NamedTuple

import structlog

from core.clock import utcnow
from core.settings import Settings
from core.stripe_gateway import StripeGateway
from core.tables import Activity, WebhookEvent
from ledger.tables import Invoice
from portal.payments import settle
from portal.tables import Payment, PaymentAllocation
from staff.alerts import alert_staff

log = structlog.get_logger()


class FollowUp(NamedTuple):
    """A payment whose state an event just changed, and what must follow (jobs the route queues)."""

    action: Literal["paid", "reversed"]
    payment_id: str


Handler = Callable[[StripeGateway, Settings, dict[str, Any]], Awaitable[FollowUp | None]]
"""Handles one event's object; returns the follow-up it calls for, if any."""


async def handle_event(gateway: StripeGateway, settings: Settings, event: dict[str, Any]) -> FollowUp | None:
    """Process a verified event unless it was processed before; returns what must follow."""
    event_id = str(event.get("id") or "")
    await WebhookEvent.insert(WebhookEvent(provider="stripe", event_id=event_id)).on_conflict(
        target=(WebhookEvent.provider, WebhookEvent.event_id), action="DO NOTHING"
    )
    row = (
        await WebhookEvent.select(WebhookEvent.processed_at)
        .where((WebhookEvent.provider == "stripe") & (WebhookEvent.event_id == event_id))
        .first()
    )
    if row is not None and row["processed_at"] is not None:
        return None
    handler = HANDLERS.get(str(event.get("type")))
    succeeded = await handler(gateway, settings, event["data"]["object"]) if handler else None
    await WebhookEvent.update({WebhookEvent.processed_at: utcnow()}).where(
        (WebhookEvent.provider == "stripe") & (WebhookEvent.event_id == event_id)
    )
    return succeeded


async def _payment_intent(gateway: StripeGateway, settings: Settings, intent: dict[str, Any]) -> FollowUp | None:
    payment = await _payment_of(str(intent.get("id") or ""), intent.get("metadata"))
    if payment is None:
        return None
    fresh = await gateway.retrieve_payment_intent(str(intent["id"]))  # Events arrive in any order.
    if payment.stripe_payment_intent_id is None:
        await Payment.update({Payment.stripe_payment_intent_id: fresh.intent_id}).where(Payment.id == payment.id)
    status = await settle(payment.id, fresh)
    if fresh.status == "succeeded" and status in ("failed", "canceled"):
        await _late_success(settings, payment, str(fresh.intent_id), status)
    return FollowUp("paid", str(payment.id)) if status == "succeeded" and payment.status != "succeeded" else None


async def _late_success(settings: Settings, payment: Payment, intent_id: str, recorded: str) -> None:
    """Stripe took the money for a payment we had closed: our records cannot settle it alone, staff must look.

    The invoices may have been paid again since (a second charge to refund), or are still owed (record it).
    """
    log.error("payment_succeeded_after_closing", payment_id=str(payment.id), recorded=recorded)
    late = f"Stripe reports card payment {intent_id} succeeded, but it was recorded here as {recorded}."
    allocations = await PaymentAllocation.select(PaymentAllocation.invoice).where(
        PaymentAllocation.payment == payment.id
    )
    for allocation in allocations:
        await Activity(
            workspace=payment.workspace, invoice_id=str(allocation["invoice"]), kind="payment_late", detail=late
        ).save()
    await alert_staff(
        settings,
        payment.workspace,
        subject=f"A card payment went through after it was recorded as {recorded}",
        text=f"{late} If the invoices were paid again since, refund one of the charges in Stripe; if not, record"
        " the payment against them.",
    )


async def _charge_reversed(gateway: StripeGateway, settings: Settings, charge: dict[str, Any]) -> FollowUp | None:
    """A refund or dispute: the invoices are owed again, the ledger payments are to be removed, the firm told."""
    intent_id = charge.get("payment_intent")
    intent_id = intent_id.get("id") if isinstance(intent_id, dict) else intent_id
    payment = await _payment_of(str(intent_id or ""), charge.get("metadata"))
    if payment is None or payment.status in ("refunded", "disputed"):
        return None
    new_status = "disputed" if charge.get("object") == "dispute" or charge.get("disputed") else "refunded"
    allocations = await PaymentAllocation.select(PaymentAllocation.invoice, PaymentAllocation.amount_minor).where(
        PaymentAllocation.payment == payment.id
    )
    await Payment.update({Payment.status: new_status}).where(Payment.id == payment.id)
    for allocation in allocations:
        invoice = (
            await Invoice.select(Invoice.amount_due_minor, Invoice.amount_paid_minor)
            .where(Invoice.id == allocation["invoice"])
            .first()
        )
        if invoice is None:
            continue
        await Invoice.update(
            {
                Invoice.status: "outstanding",
                Invoice.amount_due_minor: invoice["amount_due_minor"] + allocation["amount_minor"],
                Invoice.amount_paid_minor: max(invoice["amount_paid_minor"] - allocation["amount_minor"], 0),
                Invoice.updated_at: utcnow(),
            }
        ).where(Invoice.id == allocation["invoice"])
        await Activity(
            workspace=payment.workspace,
            invoice_id=str(allocation["invoice"]),
            kind=new_status,
            detail=f"The card payment was {new_status}; the invoice is outstanding again.",
        ).save()
    await alert_staff(
        settings,
        payment.workspace,
        subject=f"A card payment was {new_status}",
        text=f"Payment {payment.stripe_payment_intent_id} was {new_status}; its invoices are outstanding again.",
    )
    return FollowUp("reversed", str(payment.id))


async def _dispute(gateway: StripeGateway, settings: Settings, dispute: dict[str, Any]) -> FollowUp | None:
    return await _charge_reversed(gateway, settings, {**dispute, "object": "dispute"})


async def _ignore(gateway: StripeGateway, settings: Settings, obj: dict[str, Any]) -> FollowUp | None:
    """Saved cards are read live from Stripe, so these need no state of ours."""
    return None


async def _payment_of(intent_id: str, metadata: object) -> Payment | None:
    """Our payment of an intent, by its id or the `payment_id` we put in its metadata (any shape may arrive)."""
    payment = (
        await Payment.objects().where(Payment.stripe_payment_intent_id == intent_id).first() if intent_id else None
    )
    payment_id = metadata.get("payment_id") if isinstance(metadata, dict) else None
    if payment is None and isinstance(payment_id, str):
        try:
            payment = await Payment.objects().where(Payment.id == uuid.UUID(payment_id)).first()
        except ValueError:
            payment = None
    return payment


HANDLERS: dict[str, Handler] = {
    "payment_intent.succeeded": _payment_intent,
    "payment_intent.processing": _payment_intent,
    "payment_intent.payment_failed": _payment_intent,
    "payment_intent.canceled": _payment_intent,
    "charge.refunded": _charge_reversed,
    "charge.dispute.created": _dispute,
    "setup_intent.succeeded": _ignore,
    "payment_method.attached": _ignore,
    "payment_method.detached": _ignore,
}
