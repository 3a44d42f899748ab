"""Paying invoices: claim them, charge the client's card once, and settle on Stripe's word only.

The guarantee against paying twice comes from our own state, not Stripe's idempotency keys
(localstripe ignores them): invoices are claimed `outstanding → processing` with a conditional
UPDATE in one transaction, so two tabs paying at once make at most one charge. An invoice becomes
`paid` only when the PaymentIntent is `succeeded`, whoever learns it first (the page or the webhook).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog

from core.clock import utcnow
from core.db import write_transaction
from core.errors import Conflict, Invalid, NotFound
from core.stripe_gateway import CardDeclined, GatewayError, PaymentOutcome, StripeGateway
from core.tables import Activity
from ledger.tables import Client, Invoice
from portal.schemas import ClientSession
from portal.tables import Payment, PaymentAllocation, PaymentRequest, PaymentRequestInvoice, ScheduledCollection

log = structlog.get_logger()

CLOSED = ("succeeded", "failed", "canceled")


class PaymentStarted(msgspec.Struct):
    """What the payment page needs next."""

    payment_id: str
    status: str
    """succeeded, processing (an unconfirmed charge too), requires_action or failed."""
    client_secret: str | None = None
    payment_method_id: str | None = None
    message: str | None = None


async def payable_invoices(
    session: ClientSession, request_id: str, invoice_ids: Sequence[str], gateway: StripeGateway | None = None
) -> list[Invoice]:
    """The chosen invoices of the session's request, all outstanding and in one currency.

    With a gateway, an earlier attempt of this client that stopped at 3-D Secure is cancelled first,
    so an abandoned challenge never locks the invoices.
    """
    request = await PaymentRequest.objects().where(PaymentRequest.id == _uuid(request_id)).first()
    if request is None or str(request.client) != session.client_id or request.revoked_at is not None:
        raise NotFound("Page not found.")
    wanted = {_uuid(value) for value in invoice_ids}
    linked = await PaymentRequestInvoice.select(PaymentRequestInvoice.invoice).where(
        PaymentRequestInvoice.request == request.id
    )
    if not wanted or not wanted <= {row["invoice"] for row in linked}:
        raise NotFound("Page not found.")
    invoices = await Invoice.objects().where(Invoice.id.is_in(list(wanted))).order_by(Invoice.due_date)
    if gateway is not None and any(invoice.status == "processing" for invoice in invoices):
        await _release_abandoned(gateway, session, [invoice.id for invoice in invoices])
        invoices = await Invoice.objects().where(Invoice.id.is_in(list(wanted))).order_by(Invoice.due_date)
    if any(invoice.status != "outstanding" for invoice in invoices):
        raise Conflict("Some of these invoices are already paid or being paid.")
    if len({invoice.currency for invoice in invoices}) != 1:
        raise Invalid("Pay invoices of one currency at a time.", fields={"invoice_ids": "Mixed currencies."})
    return invoices


async def refresh_saved_card_flag(gateway: StripeGateway, session: ClientSession, customer_id: str) -> bool:
    """Mirror whether the client keeps a card with us (the Outstanding list shows it without asking Stripe)."""
    has_card = bool(await gateway.list_payment_methods(customer_id))
    await Client.update({Client.has_saved_card: has_card}).where(Client.id == _uuid(session.client_id))
    return has_card


async def customer_for(gateway: StripeGateway, session: ClientSession) -> str:
    """The client's Stripe Customer, created on first use."""
    client = await Client.objects().where(Client.id == _uuid(session.client_id)).first()
    assert client is not None
    customer_id = await gateway.ensure_customer(
        existing_id=client.stripe_customer_id,
        name=client.name,
        email=client.email,
        metadata={"workspace_id": session.workspace_id, "client_id": session.client_id},
        idempotency_key=f"customer:{client.id}",
    )
    if customer_id != client.stripe_customer_id:
        await Client.update({Client.stripe_customer_id: customer_id}).where(Client.id == client.id)
    return customer_id


async def start_payment(
    gateway: StripeGateway,
    session: ClientSession,
    *,
    request_id: str,
    invoice_ids: Sequence[str],
    payment_method_id: str,
    keep_card: bool,
) -> PaymentStarted:
    """Claim the invoices, charge the card once, and settle what Stripe answered."""
    invoices = await payable_invoices(session, request_id, invoice_ids, gateway)
    customer_id = await customer_for(gateway, session)
    await gateway.attach_payment_method(payment_method_id, customer_id)
    payment = await _claim(session, invoices)
    try:
        outcome = await gateway.charge(
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            metadata={
                "workspace_id": session.workspace_id,
                "request_id": request_id,
                "payment_id": str(payment.id),
                "invoice_ids": ",".join(str(invoice.id) for invoice in invoices),
            },
            idempotency_key=payment.idempotency_key,
        )
    except GatewayError as error:
        found = await _unanswered_charge(gateway, payment, customer_id, error)
        if found is None:
            return await _unconfirmed(payment, payment_method_id)
        outcome = found
    if outcome.intent_id:
        await Payment.update({Payment.stripe_payment_intent_id: outcome.intent_id}).where(Payment.id == payment.id)
    status = await settle(payment.id, outcome)
    if not keep_card and status in ("succeeded", "failed"):
        await _forget_card(gateway, payment_method_id, customer_id)
    elif keep_card:
        await refresh_saved_card_flag(gateway, session, customer_id)
    return PaymentStarted(
        payment_id=str(payment.id),
        status=status,
        client_secret=outcome.client_secret if status == "requires_action" else None,
        payment_method_id=payment_method_id,
        message=outcome.message,
    )


async def _claim(session: ClientSession, invoices: list[Invoice]) -> Payment:
    """Move the invoices to `processing` and record the payment, or fail if any was taken meanwhile."""
    ids = [invoice.id for invoice in invoices]
    payment = Payment(
        workspace=_uuid(session.workspace_id),
        client=_uuid(session.client_id),
        idempotency_key=f"payment:{uuid.uuid4()}",
        currency=invoices[0].currency,
        amount_minor=sum(invoice.amount_due_minor for invoice in invoices),
        status="created",
    )
    async with write_transaction():
        claimed = (
            await Invoice.update({Invoice.status: "processing", Invoice.updated_at: utcnow()})
            .where(Invoice.id.is_in(ids) & (Invoice.status == "outstanding"))
            .returning(Invoice.id)
        )
        if len(claimed) != len(ids):
            raise _AlreadyTaken()
        await payment.save()
        await PaymentAllocation.insert(
            *[
                PaymentAllocation(payment=payment.id, invoice=invoice.id, amount_minor=invoice.amount_due_minor)
                for invoice in invoices
            ]
        )
    return payment


async def release_stale_attempts(gateway: StripeGateway, session: ClientSession, *, older_than: dt.timedelta) -> None:
    """Cancel this client's payments left waiting for 3-D Secure (a closed tab), so their invoices are payable again."""
    stuck = await Payment.objects().where(
        (Payment.client == _uuid(session.client_id))
        & (Payment.status == "requires_action")
        & (Payment.created_at < utcnow() - older_than)
    )
    await _cancel(gateway, stuck)


async def _release_abandoned(gateway: StripeGateway, session: ClientSession, invoice_ids: list[uuid.UUID]) -> None:
    rows = await PaymentAllocation.select(PaymentAllocation.payment).where(PaymentAllocation.invoice.is_in(invoice_ids))
    stuck = await Payment.objects().where(
        Payment.id.is_in([row["payment"] for row in rows] or [uuid.UUID(int=0)])
        & (Payment.client == _uuid(session.client_id))
        & (Payment.status == "requires_action")
    )
    await _cancel(gateway, stuck)


async def _cancel(gateway: StripeGateway, stuck: list[Payment]) -> None:
    for payment in stuck:
        if payment.stripe_payment_intent_id is None:
            continue
        outcome = await gateway.cancel_payment_intent(
            payment.stripe_payment_intent_id, idempotency_key=f"cancel:{payment.id}"
        )
        await settle(payment.id, outcome)


UNANSWERED = "We could not reach the card network and nothing was charged. Please try again in a moment."
UNCONFIRMED = (
    "We could not confirm this payment with the card network yet, so we are checking with it. Reload this page"
    " in a few minutes: if your card was charged the invoice will show as paid and you will get a receipt;"
    " if not, you can pay again."
)
UNCONFIRMED_FOR = dt.timedelta(minutes=2)
"""How long an unanswered charge stays unconfirmed before Stripe is asked again (its requests finish well before)."""


async def _unanswered_charge(
    gateway: StripeGateway, payment: Payment, customer_id: str, error: GatewayError
) -> PaymentOutcome | None:
    """What became of a charge Stripe did not answer (an outage, a time-out, a 500), so the invoices never stay stuck.

    Stripe may have made the intent before its answer was lost: look for it first. An error Stripe gave
    before charging (a refusal) is a failed attempt and the invoices are payable again. An unanswered
    request with no intent found yet may still be under way at Stripe: None, for the payment to stay
    unconfirmed (its invoices claimed) until `confirm_unanswered` asks again. If Stripe cannot even be
    asked, the error propagates and the payment stays claimed: paying again then would risk a second charge.
    """
    if not error.retryable:
        return _nothing_charged(payment, _refusal(error))
    found = await _charge_made(gateway, payment, customer_id)
    if found is None:
        log.warning("charge_unanswered", payment_id=str(payment.id), error=error.message)
    return found


async def _unconfirmed(payment: Payment, payment_method_id: str) -> PaymentStarted:
    """The charge's fate is unknown for now: the invoices stay claimed and the page says so (as processing)."""
    await Payment.update({Payment.status: "unconfirmed", Payment.failure_message: UNCONFIRMED}).where(
        (Payment.id == payment.id) & Payment.status.not_in(list(CLOSED))
    )
    return PaymentStarted(
        payment_id=str(payment.id), status="processing", payment_method_id=payment_method_id, message=UNCONFIRMED
    )


async def confirm_unanswered(gateway: StripeGateway, payment: Payment) -> str:
    """Ask Stripe again about an unconfirmed charge: settle what it made, else fail it (nothing was charged)."""
    client = await Client.select(Client.stripe_customer_id).where(Client.id == payment.client).first()
    customer_id = client["stripe_customer_id"] if client else None
    found = await _charge_made(gateway, payment, customer_id) if customer_id else None
    if found is not None and found.intent_id:
        await Payment.update({Payment.stripe_payment_intent_id: found.intent_id}).where(Payment.id == payment.id)
    return await settle(payment.id, found or _nothing_charged(payment, UNANSWERED))


async def _charge_made(gateway: StripeGateway, payment: Payment, customer_id: str) -> PaymentOutcome | None:
    """The intent Stripe made for this payment and charged, if it did (its answer may have been lost)."""
    return await gateway.find_charged_intent(
        customer_id=customer_id,
        payment_id=str(payment.id),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )


def _nothing_charged(payment: Payment, message: str) -> PaymentOutcome:
    """A failed attempt with no intent behind it, as `settle` takes it: the invoices are payable again."""
    return PaymentOutcome(
        intent_id=None,
        status="requires_payment_method",
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        message=message,
    )


def _refusal(error: GatewayError) -> str:
    """Words for the client when Stripe refused the charge outright."""
    if isinstance(error, CardDeclined):
        return error.client_message
    return "This card could not be charged, and nothing was charged. Please try another card."


class _AlreadyTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("These invoices are already being paid. Refresh the page to see where they stand.")


async def settle(payment_id: uuid.UUID, outcome: PaymentOutcome) -> str:
    """Apply Stripe's view of the intent; safe to call again and from the webhook (first writer wins)."""
    status = {
        "succeeded": "succeeded",
        "processing": "processing",
        "requires_action": "requires_action",
        "requires_payment_method": "failed",
        "canceled": "canceled",
    }.get(outcome.status, "processing")
    async with write_transaction():
        moved = (
            await Payment.update(
                {
                    Payment.status: status,
                    Payment.failure_message: outcome.message if status in ("failed", "canceled") else None,
                    Payment.succeeded_at: utcnow() if status == "succeeded" else None,
                }
            )
            .where((Payment.id == payment_id) & Payment.status.not_in(list(CLOSED)))
            .returning(Payment.id, Payment.workspace)
        )
        if not moved:
            current = await Payment.select(Payment.status).where(Payment.id == payment_id).first()
            return str(current["status"]) if current else status
        allocations = await PaymentAllocation.select(PaymentAllocation.invoice, PaymentAllocation.amount_minor).where(
            PaymentAllocation.payment == payment_id
        )
        workspace_id = moved[0]["workspace"]
        if status == "succeeded":
            await _mark_paid(workspace_id, allocations, outcome)
        elif status in ("failed", "canceled"):
            await Invoice.update({Invoice.status: "outstanding", Invoice.updated_at: utcnow()}).where(
                Invoice.id.is_in([row["invoice"] for row in allocations]) & (Invoice.status == "processing")
            )
            await _log(
                workspace_id, allocations, "payment_failed", outcome.message or "The payment did not go through."
            )
    return status


async def _mark_paid(workspace_id: uuid.UUID, allocations: list[dict[str, Any]], outcome: PaymentOutcome) -> None:
    settled: list[uuid.UUID] = []
    for row in allocations:
        invoice = (
            await Invoice.select(Invoice.amount_due_minor, Invoice.amount_paid_minor)
            .where(Invoice.id == row["invoice"])
            .first()
        )
        if invoice is None:
            continue
        due = max(invoice["amount_due_minor"] - row["amount_minor"], 0)
        await Invoice.update(
            {
                Invoice.status: "paid" if due == 0 else "outstanding",
                Invoice.amount_due_minor: due,
                Invoice.amount_paid_minor: invoice["amount_paid_minor"] + row["amount_minor"],
                Invoice.updated_at: utcnow(),
            }
        ).where(Invoice.id == row["invoice"])
        if due == 0:
            settled.append(row["invoice"])
    await _log(workspace_id, allocations, "paid", f"Paid by card ({outcome.intent_id})")
    if settled:  # A collection still waiting for its date has nothing left to collect.
        await ScheduledCollection.update(
            {
                ScheduledCollection.status: "cancelled",
                ScheduledCollection.note: "Paid before the collection date; nothing charged.",
                ScheduledCollection.updated_at: utcnow(),
            }
        ).where(ScheduledCollection.invoice.is_in(settled) & (ScheduledCollection.status == "scheduled"))


async def _log(workspace_id: uuid.UUID, allocations: list[dict[str, Any]], kind: str, detail: str) -> None:
    await Activity.insert(
        *[
            Activity(workspace=workspace_id, invoice_id=str(row["invoice"]), kind=kind, detail=detail)
            for row in allocations
        ]
    )


async def complete_payment(gateway: StripeGateway, session: ClientSession, payment_id: str) -> PaymentStarted:
    """After 3-D Secure on the page: ask Stripe where the intent stands (never trust the page)."""
    payment = await own_payment(session, payment_id)
    if payment.stripe_payment_intent_id is None:
        raise Conflict("This payment was never sent to the card network.")
    outcome = await gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
    if outcome.status == "requires_payment_method":
        outcome = msgspec.structs.replace(outcome, message=outcome.message or "Your bank did not confirm this payment.")
    status = await settle(payment.id, outcome)
    return PaymentStarted(payment_id=str(payment.id), status=status, message=outcome.message)


async def own_payment(session: ClientSession, payment_id: str) -> Payment:
    """A payment of the session's client, or 404."""
    payment = await Payment.objects().where(Payment.id == _uuid(payment_id)).first()
    if payment is None or str(payment.client) != session.client_id:
        raise NotFound("Page not found.")
    return payment


async def _forget_card(gateway: StripeGateway, payment_method_id: str, customer_id: str) -> None:
    """A card the client did not choose to keep is detached after the payment."""
    try:
        await gateway.detach_payment_method(payment_method_id, customer_id=customer_id)
    except Exception:
        log.warning("card_detach_failed")


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound("Page not found.") from None
