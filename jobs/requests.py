"""Delivering payment-request emails: one keyed job per client email, never sent twice."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from saq.queue import Queue

from core.clock import utcnow
from core.mail import MailError, mailer_for
from core.scope import WorkspaceScope
from core.settings import Settings
from core.tables import Activity
from jobs.ledger import ledger_context
from jobs.spec import JobSpec, enqueue
from ledger.http import LedgerError
from ledger.pdfs import PdfUnavailable
from ledger.tables import Client
from portal.links import link_url
from portal.tables import PaymentRequest, PaymentRequestInvoice
from staff.alerts import alert_staff
from staff.request_emails import InvoiceLine, compose, firm_of, invoice_attachments

log = structlog.get_logger()

# Both carry raw link tokens in their arguments, so finished jobs are kept only briefly (ttl).
DISPATCH = JobSpec(
    name="dispatch_batch", timeout=600, heartbeat=60, retries=10, retry_delay=2.0, retry_backoff=60.0, ttl=600
)
DELIVER = JobSpec(
    name="deliver_payment_request",
    timeout=120,
    heartbeat=30,
    retries=6,
    retry_delay=30.0,
    retry_backoff=1800.0,
    ttl=3600,
)
"""SMTP trouble is retried for about an hour and a half (30 s doubling, capped at 30 min), then the request fails."""


async def enqueue_delivery(queue: Queue, batch_id: str, tokens: dict[str, str]) -> None:
    """One job fans the batch out, so the API answers at once however large the batch."""
    await enqueue(queue, DISPATCH, key=f"dispatch:{batch_id}", tokens=tokens)


async def enqueue_redelivery(queue: Queue, request_id: str, token: str, *, attempt: str) -> None:
    """Queue a resend with its fresh link (its own key: the first delivery's key is remembered for a day)."""
    await enqueue(queue, DELIVER, key=f"deliver:{request_id}:{attempt}", request_id=request_id, token=token)


async def dispatch_batch(ctx: dict[str, Any], *, tokens: dict[str, str]) -> dict[str, int]:
    """Queue one delivery per request; a delivery that runs again finds its request sent and does nothing."""
    for request_id, token in tokens.items():
        await enqueue(ctx["queue"], DELIVER, key=f"deliver:{request_id}", request_id=request_id, token=token)
    return {"queued": len(tokens)}


async def deliver_payment_request(ctx: dict[str, Any], *, request_id: str, token: str) -> dict[str, str]:
    """Send one request's email. Safe to run again: a sent, revoked or uncertain request is never re-sent."""
    settings: Settings = ctx["settings"]
    request = await PaymentRequest.objects().where(PaymentRequest.id == uuid.UUID(request_id)).first()
    if request is None or request.status not in ("queued", "sending"):
        return {"status": request.status if request else "missing"}
    if request.status == "sending":
        # A worker died mid-send: the email may have gone. Never risk a second copy; tell staff.
        await _fail(
            settings, request, "Delivery was interrupted; it is unknown whether the email arrived. Resend if needed."
        )
        return {"status": "failed"}

    scope = WorkspaceScope(workspace_id=request.workspace)
    lines = await _open_invoice_lines(request)
    if not lines:
        await _set(request, status="cancelled", note="Every invoice was paid or voided before sending.")
        return {"status": "cancelled"}

    try:
        attachments = await invoice_attachments(ledger_context(ctx), lines)
    except (PdfUnavailable, LedgerError) as exc:
        return await _retry_or_fail(ctx, request, f"The invoice copy could not be fetched from the ledger ({exc}).")
    client = await Client.objects().where(Client.id == request.client).first()
    assert client is not None
    email = compose(
        firm=await firm_of(scope),
        client_name=client.name,
        to=client.email or "",
        lines=lines,
        link=link_url(settings.base_url, token),
        subject_template=request.subject or None,
        message_template=request.message or None,
        attachments=attachments,
        message_id=f"<request-{request.id}@{settings.mail_from.rpartition('@')[2] or 'localhost'}>",
    )
    await _set(request, status="sending")
    try:
        await mailer_for(settings.smtp_url, settings.mail_from).send(email)
    except MailError as exc:
        await _set(request, status="queued")
        return await _retry_or_fail(ctx, request, f"The mail server did not accept the email ({exc}).")
    await PaymentRequest.update(
        {PaymentRequest.status: "sent", PaymentRequest.sent_at: utcnow(), PaymentRequest.last_error: None}
    ).where(PaymentRequest.id == request.id)
    await Activity.insert(
        *[
            Activity(
                workspace=request.workspace,
                invoice_id=line.id,
                request_id=request_id,
                kind="sent",
                detail=f"Emailed to {client.email}",
            )
            for line in lines
        ]
    )
    return {"status": "sent"}


async def _open_invoice_lines(request: PaymentRequest) -> list[InvoiceLine]:
    """The request's invoices still outstanding; the others are dropped with a note."""
    rows = await PaymentRequestInvoice.select(
        PaymentRequestInvoice.invoice.id,
        PaymentRequestInvoice.invoice.number,
        PaymentRequestInvoice.invoice.currency,
        PaymentRequestInvoice.invoice.amount_due_minor,
        PaymentRequestInvoice.invoice.due_date,
        PaymentRequestInvoice.invoice.status,
    ).where(PaymentRequestInvoice.request == request.id)
    dropped = [row["invoice.number"] for row in rows if row["invoice.status"] != "outstanding"]
    if dropped:
        await _set(request, note=f"Left out, paid or voided since selection: {', '.join(dropped)}.")
    return [
        InvoiceLine(
            str(row["invoice.id"]),
            row["invoice.number"],
            row["invoice.currency"],
            row["invoice.amount_due_minor"],
            row["invoice.due_date"],
        )
        for row in rows
        if row["invoice.status"] == "outstanding"
    ]


async def _set(request: PaymentRequest, **values: Any) -> None:
    await PaymentRequest.update({getattr(PaymentRequest, key): value for key, value in values.items()}).where(
        PaymentRequest.id == request.id
    )


async def _retry_or_fail(ctx: dict[str, Any], request: PaymentRequest, reason: str) -> dict[str, str]:
    job = ctx["job"]
    if job.attempts < job.retries:
        await _set(request, last_error=reason)
        raise RetryLater(reason)
    await _fail(ctx["settings"], request, reason)
    return {"status": "failed"}


async def _fail(settings: Settings, request: PaymentRequest, reason: str) -> None:
    await _set(request, status="failed", last_error=reason)
    await Activity(
        workspace=request.workspace, request_id=str(request.id), kind="delivery_failed", detail=reason
    ).save()
    await alert_staff(settings, request.workspace, subject="A payment request could not be emailed", text=reason)


class RetryLater(Exception):
    """Raised so SAQ retries the job with its backoff."""
