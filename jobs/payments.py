"""Writing each collected payment back to the ledger, exactly once (outbox pattern)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import structlog
from saq.queue import Queue

from core.clock import as_utc, utcnow
from core.mail import MailError, mailer_for
from core.stripe_gateway import GatewayError, StripeGateway
from core.tables import Activity, Workspace
from jobs.ledger import ledger_context
from jobs.spec import JobSpec, RetryLater, enqueue
from ledger.clients import client_for
from ledger.http import LedgerError
from ledger.oauth import GrantRevoked
from ledger.providers.base import LedgerPayment
from ledger.tables import Client, Invoice, LedgerConnection
from portal.payments import UNCONFIRMED_FOR, confirm_unanswered
from portal.receipts import receipt_email
from portal.tables import Payment, PaymentAllocation
from staff.alerts import alert_staff

log = structlog.get_logger()

WRITE_BACK = JobSpec(
    name="write_back_payment", timeout=300, heartbeat=15, retries=16, retry_delay=5.0, retry_backoff=3600.0
)
"""The payment row is committed first; this keyed job records it in the ledger, retrying for about 12 hours."""


async def enqueue_write_back(queue: Queue, payment_id: str) -> None:
    """Queue the write-back of a succeeded payment (keyed: the page and the webhook may both ask)."""
    await enqueue(queue, WRITE_BACK, key=f"write-back:{payment_id}", payment_id=payment_id)


async def write_back_payment(ctx: dict[str, Any], *, payment_id: str) -> dict[str, int]:
    """Record each allocation of the payment in the ledger; allocations already written are skipped."""
    payment = await Payment.objects().where(Payment.id == uuid.UUID(payment_id)).first()
    if payment is None or payment.status != "succeeded":
        return {"written": 0}
    allocations = await PaymentAllocation.objects().where(
        (PaymentAllocation.payment == payment.id) & PaymentAllocation.written_back_at.is_null()
    )
    written = 0
    for allocation in allocations:
        invoice = await Invoice.objects().where(Invoice.id == allocation.invoice).first()
        if invoice is None or invoice.connection is None:
            continue  # Not from a ledger (nothing to write back to).
        connection = await LedgerConnection.objects().where(LedgerConnection.id == invoice.connection).first()
        client = await Client.objects().where(Client.id == invoice.client).first()
        assert connection is not None
        assert client is not None
        paid_on = as_utc(payment.succeeded_at or utcnow()).date()
        try:
            api = client_for(ledger_context(ctx), connection)
            ledger_payment_id = await api.record_payment(
                LedgerPayment(
                    invoice_external_id=invoice.external_id,
                    amount_minor=allocation.amount_minor,
                    currency=payment.currency,
                    paid_on=paid_on,
                    reference=payment.stripe_payment_intent_id or str(payment.id),
                    idempotency_key=f"allocation-{allocation.id}",
                    account_code=connection.payment_account_code,
                    customer_external_id=client.external_id,
                )
            )
        except (GrantRevoked, LedgerError) as exc:
            if _permanent(exc):
                await PaymentAllocation.update({PaymentAllocation.write_back_failed_at: utcnow()}).where(
                    PaymentAllocation.id == allocation.id
                )
                await _needs_staff(ctx, payment, invoice, str(exc))
                continue
            raise
        await PaymentAllocation.update(
            {
                PaymentAllocation.ledger_payment_id: ledger_payment_id,
                PaymentAllocation.written_back_at: utcnow(),
                PaymentAllocation.write_back_failed_at: None,
            }
        ).where(PaymentAllocation.id == allocation.id)
        await Activity(
            workspace=payment.workspace,
            invoice_id=str(invoice.id),
            kind="written_back",
            detail=f"Payment recorded in {connection.provider.capitalize()} ({ledger_payment_id})",
        ).save()
        written += 1
    return {"written": written}


def _permanent(exc: Exception) -> bool:
    """Errors a retry cannot fix: no access, no account code, or the ledger's validation refusal."""
    if isinstance(exc, GrantRevoked):
        return True
    return isinstance(exc, LedgerError) and (exc.status in (400, 403) or "account code" in str(exc))


async def _needs_staff(
    ctx: dict[str, Any], payment: Payment, invoice: Invoice, reason: str, *, action: str = "recorded in"
) -> None:
    detail = (
        f"The payment for {invoice.number} could not be {action} the ledger: {reason}. "
        "Check the payment account code on the Connections page; it is retried when the connection is fixed."
    )
    await Activity(
        workspace=payment.workspace, invoice_id=str(invoice.id), kind="write_back_failed", detail=detail
    ).save()
    await alert_staff(
        ctx["settings"],
        payment.workspace,
        subject="A payment needs recording in the ledger",
        text=detail,
        queue=ctx.get("queue"),
    )


async def requeue_write_backs(ctx: dict[str, Any]) -> dict[str, int]:
    """Cron: queue the write-back of every succeeded payment not yet in the ledger.

    The outbox's safety net: a worker that died between committing a payment and queuing its write-back
    (or a job that ran out of retries) is caught up here. Keys keep a queued or running write-back single.
    Allocations the ledger refused for good wait for staff to fix the connection.
    """
    rows = await PaymentAllocation.select(PaymentAllocation.payment).where(
        PaymentAllocation.written_back_at.is_null()
        & PaymentAllocation.write_back_failed_at.is_null()
        & (PaymentAllocation.payment.status == "succeeded")
        & PaymentAllocation.invoice.connection.is_not_null()
    )
    pending = {str(row["payment"]) for row in rows}
    for payment_id in pending:
        await enqueue_write_back(ctx["queue"], payment_id)
    return {"queued": len(pending)}


REVERSE = JobSpec(
    name="reverse_write_back", timeout=300, heartbeat=15, retries=16, retry_delay=5.0, retry_backoff=3600.0
)
"""A refunded or disputed payment's ledger payments are removed, retrying for about 12 hours."""


async def enqueue_reversal(queue: Queue, payment_id: str) -> None:
    """Queue the removal of a reversed payment from the ledger (keyed per payment)."""
    await enqueue(queue, REVERSE, key=f"reverse:{payment_id}", payment_id=payment_id)


async def reverse_write_back(ctx: dict[str, Any], *, payment_id: str) -> dict[str, int]:
    """Delete each written-back ledger payment of a refunded or disputed payment; safe to run again."""
    payment = await Payment.objects().where(Payment.id == uuid.UUID(payment_id)).first()
    if payment is None or payment.status not in ("refunded", "disputed"):
        return {"reversed": 0}
    allocations = await PaymentAllocation.objects().where(
        (PaymentAllocation.payment == payment.id)
        & PaymentAllocation.ledger_payment_id.is_not_null()
        & PaymentAllocation.reversed_at.is_null()
    )
    reversed_count = 0
    for allocation in allocations:
        invoice = await Invoice.objects().where(Invoice.id == allocation.invoice).first()
        if invoice is None or invoice.connection is None or allocation.ledger_payment_id is None:
            continue
        connection = await LedgerConnection.objects().where(LedgerConnection.id == invoice.connection).first()
        assert connection is not None
        try:
            await client_for(ledger_context(ctx), connection).reverse_payment(allocation.ledger_payment_id)
        except (GrantRevoked, LedgerError) as exc:
            if _already_gone(exc):
                pass
            elif _permanent(exc):
                await _needs_staff(ctx, payment, invoice, str(exc), action="removed from")
                continue
            else:
                raise
        await PaymentAllocation.update({PaymentAllocation.reversed_at: utcnow()}).where(
            PaymentAllocation.id == allocation.id
        )
        await Activity(
            workspace=payment.workspace,
            invoice_id=str(invoice.id),
            kind="ledger_payment_removed",
            detail=f"Payment removed from {connection.provider.capitalize()} ({allocation.ledger_payment_id})",
        ).save()
        reversed_count += 1
    return {"reversed": reversed_count}


def _already_gone(exc: Exception) -> bool:
    """The ledger no longer has the payment (deleted by a previous run or by hand): the goal is met."""
    return isinstance(exc, LedgerError) and exc.status == 404


RECEIPT = JobSpec(name="send_receipt", timeout=120, heartbeat=30, retries=6, retry_delay=30.0, retry_backoff=1800.0)


async def enqueue_receipt(queue: Queue, payment_id: str) -> None:
    """Queue the client's receipt (keyed: one per payment)."""
    await enqueue(queue, RECEIPT, key=f"receipt:{payment_id}", payment_id=payment_id)


async def send_receipt(ctx: dict[str, Any], *, payment_id: str) -> dict[str, str]:
    """Email the client a receipt for a succeeded payment, unless it went out already.

    A run that dies after sending but before recording it sends again when retried: the copy keeps its
    Message-ID, which mail clients use to fold it into the first, and a lost receipt is worse than a repeat.
    """
    payment = await Payment.objects().where(Payment.id == uuid.UUID(payment_id)).first()
    if payment is None or payment.status != "succeeded":
        return {"status": "skipped"}
    if payment.receipt_sent_at is not None:
        return {"status": "already sent"}
    client = await Client.objects().where(Client.id == payment.client).first()
    if client is None or not client.email:
        return {"status": "no email"}
    rows = await PaymentAllocation.select(PaymentAllocation.invoice.number, PaymentAllocation.amount_minor).where(
        PaymentAllocation.payment == payment.id
    )
    firm = await Workspace.select(Workspace.name, Workspace.reply_to).where(Workspace.id == payment.workspace).first()
    email = receipt_email(
        to=client.email,
        firm_name=firm["name"] if firm else "",
        reply_to=firm["reply_to"] if firm else None,
        lines=[(row["invoice.number"], row["amount_minor"]) for row in rows],
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        reference=payment.stripe_payment_intent_id or str(payment.id),
        paid_on=as_utc(payment.succeeded_at or utcnow()).date(),
        message_id=f"<receipt-{payment.id}@portal>",
        workspace_id=str(payment.workspace),
    )
    try:
        await mailer_for(ctx["settings"].smtp_url, ctx["settings"].mail_from).send(email)
    except MailError as exc:
        raise RetryLater(str(exc)) from exc
    await Payment.update({Payment.receipt_sent_at: utcnow()}).where(Payment.id == payment.id)
    return {"status": "sent"}


RECEIPT_SWEEP_AFTER = dt.timedelta(minutes=2)
"""A receipt still unsent this long after its payment succeeded lost its job (the job itself takes seconds)."""
RECEIPT_SWEEP_WINDOW = dt.timedelta(days=3)
"""Past this, a receipt is stale news: the sweep stops trying and the payment shows it was not sent."""


async def requeue_receipts(ctx: dict[str, Any], *, now: str | None = None) -> dict[str, int]:
    """Cron: queue the receipt of each recent succeeded payment whose receipt never went out.

    The receipt's outbox sweep: a worker that died between committing a payment and queuing its receipt,
    or a receipt whose retries ran out while the mail server was down, is caught up here. The job's key
    keeps a queued or running receipt single. `now` (ISO 8601) stands in for the clock in tests.
    """
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    rows = await Payment.select(Payment.id).where(
        (Payment.status == "succeeded")
        & Payment.receipt_sent_at.is_null()
        & (Payment.succeeded_at < moment - RECEIPT_SWEEP_AFTER)
        & (Payment.succeeded_at > moment - RECEIPT_SWEEP_WINDOW)
        & (Payment.client.email != "")
    )
    for row in rows:
        await enqueue_receipt(ctx["queue"], str(row["id"]))
    return {"queued": len(rows)}


async def confirm_unanswered_payments(ctx: dict[str, Any], *, now: str | None = None) -> dict[str, int]:
    """Cron: settle each charge Stripe left unanswered once it has had time to finish there.

    A portal payment whose charge request went unanswered, with no charge found at the time, is
    `unconfirmed` and keeps its invoices claimed: the request may still have been under way at Stripe.
    After `UNCONFIRMED_FOR` Stripe is asked again: a charge it made is settled (receipt and write-back
    follow from their own sweeps), and with none the payment fails and its invoices are payable again.
    A webhook about the intent settles it sooner. `now` (ISO 8601) stands in for the clock in tests.
    """
    gateway: StripeGateway | None = ctx.get("stripe")
    if gateway is None:
        return {"settled": 0}
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    due = await Payment.objects().where(
        (Payment.status == "unconfirmed") & (Payment.created_at < moment - UNCONFIRMED_FOR)
    )
    settled = 0
    for payment in due:
        try:
            status = await confirm_unanswered(gateway, payment)
        except GatewayError as error:  # Stripe still out of reach: the next run asks again
            log.warning("unconfirmed_payment_unresolved", payment_id=str(payment.id), error=error.message)
            continue
        log.info("unconfirmed_payment_settled", payment_id=str(payment.id), status=status)
        settled += 1
    return {"settled": settled}
