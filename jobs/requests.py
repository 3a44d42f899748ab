"""Delivering payment-request emails: one keyed job per client email, never sent twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import structlog
from saq.job import Status
from saq.queue import Queue

from core.clock import utcnow
from core.db import read_transaction, surviving_disconnects, write_transaction
from core.mail import Attachment, MailError, mailer_for
from core.settings import Settings
from core.tables import Activity
from jobs.ledger import ledger_context
from jobs.spec import JobSpec, enqueue, retry_mail_later
from ledger.http import LedgerError
from ledger.pdfs import PdfUnavailable, cached_copies, complete_copies
from portal.links import link_url, new_link_token
from portal.tables import PaymentRequest, PaymentRequestInvoice
from staff.alerts import alert_staff
from staff.request_emails import Firm, InvoiceLine, compose

log = structlog.get_logger()

# Both carry raw link tokens in their arguments, so finished jobs are kept only briefly (ttl).
DISPATCH = JobSpec(
    name="dispatch_batch", timeout=600, heartbeat=60, retries=10, retry_delay=2.0, retry_backoff=60.0, ttl=600
)
DELIVER = JobSpec(
    name="deliver_payment_request",
    timeout=120,
    heartbeat=30,
    retries=12,
    retry_delay=30.0,
    retry_backoff=1800.0,
    ttl=3600,
)
"""SMTP trouble is retried for about an hour and a half, then the request fails.

SAQ's backoff has full jitter (each delay is random between 0 and 30 s doubling, capped at 30 min), so the
budget is a sum of random delays: 12 attempts make it 90 minutes on average and practically never under
half an hour (6 attempts averaged under 8 minutes, and 1 time in 7 ran out within a 5-minute outage).
The delays come from `Settings.mail_retry_seconds` when the job asks for a retry (`_retry_or_fail`).
"""


async def enqueue_delivery(queue: Queue, batch_id: str, tokens: dict[str, str]) -> None:
    """One job fans the batch out, so the API answers at once however large the batch."""
    await enqueue(queue, DISPATCH, key=f"dispatch:{batch_id}", tokens=tokens)


async def enqueue_redelivery(queue: Queue, request_id: str, token: str, *, attempt: str) -> None:
    """Queue a resend with its fresh link (its own key: the first delivery's key is remembered for a day)."""
    await enqueue(queue, DELIVER, key=f"deliver:{request_id}:{attempt}", request_id=request_id, token=token)


FAN_OUT = 50
"""Deliveries enqueued at once: enough to hide the queue's round trips, few enough not to flood it."""


async def dispatch_batch(ctx: dict[str, Any], *, tokens: dict[str, str]) -> dict[str, int]:
    """Queue one delivery per request; a delivery that runs again finds its request sent and does nothing."""
    items = list(tokens.items())
    for start in range(0, len(items), FAN_OUT):
        await asyncio.gather(
            *(
                enqueue(ctx["queue"], DELIVER, key=f"deliver:{request_id}", request_id=request_id, token=token)
                for request_id, token in items[start : start + FAN_OUT]
            )
        )
    return {"queued": len(tokens)}


@dataclass(frozen=True)
class _Request:
    """What a delivery needs of its request, its client and its firm (read in one query)."""

    id: uuid.UUID
    workspace: uuid.UUID
    status: str
    subject: str
    message: str
    client_name: str
    client_email: str | None
    firm: Firm


async def deliver_payment_request(ctx: dict[str, Any], *, request_id: str, token: str | None = None) -> dict[str, str]:
    """Send one request's email. Safe to run again: a sent, revoked or uncertain request is never re-sent.

    Without a token (a delivery recovered by `requeue_lost_deliveries`: the job that carried the token is
    gone) a fresh link is made and its digest stored by the same update that claims the request, so the
    link in the email always works and only the run that sends replaces it.
    """
    settings: Settings = ctx["settings"]
    fresh_digest = None
    if token is None:
        token, fresh_digest = new_link_token()
    async with read_transaction():  # the four reads on one connection
        request = await _request(uuid.UUID(request_id))
        lines, dropped = await _invoice_lines(request) if request and request.status == "queued" else ([], [])
        copies = await cached_copies([uuid.UUID(line.id) for line in lines]) if lines else None
    if request is None or request.status not in ("queued", "sending"):
        return {"status": request.status if request else "missing"}
    if request.status == "sending":
        # A worker died mid-send: the email may have gone. Never risk a second copy; tell staff.
        await _fail(
            ctx, request, "Delivery was interrupted; it is unknown whether the email arrived. Resend if needed."
        )
        return {"status": "failed"}
    if dropped:
        await _set(request, note=f"Left out, paid or voided since selection: {', '.join(dropped)}.")
    if copies is None:
        await _set(request, status="cancelled", note="Every invoice was paid or voided before sending.")
        return {"status": "cancelled"}

    try:
        attachments = [
            Attachment(filename=name, content_type="application/pdf", content=content)
            for name, content in await complete_copies(ledger_context(ctx), copies)
        ]
    except (PdfUnavailable, LedgerError) as exc:
        return await _retry_or_fail(ctx, request, f"The invoice copy could not be fetched from the ledger ({exc}).")
    email = compose(
        firm=request.firm,
        client_name=request.client_name,
        to=request.client_email or "",
        lines=lines,
        link=link_url(settings.base_url, token),
        subject_template=request.subject or None,
        message_template=request.message or None,
        attachments=attachments,
        message_id=f"<request-{request.id}@{settings.mail_from.rpartition('@')[2] or 'localhost'}>",
        workspace_id=str(request.workspace),
    )
    if not await _claim(request, token_hash=fresh_digest):
        return {"status": "taken"}  # another run of this job claimed it meanwhile, or staff revoked it
    try:
        await mailer_for(settings.smtp_url, settings.mail_from).send(email)
    except MailError as exc:
        await surviving_disconnects(lambda: _set(request, status="queued"))
        return await _retry_or_fail(ctx, request, f"The mail server did not accept the email ({exc}).")
    # The email is gone: record it even if the database connection drops now (a failed job would be taken
    # for one that died mid-send, and the request failed as "delivery uncertain").
    await surviving_disconnects(lambda: _mark_sent(request, lines))
    return {"status": "sent"}


async def _mark_sent(request: _Request, lines: list[InvoiceLine]) -> None:
    """`sent`, with the activity, in one transaction; a repeat after a lost commit, or a revocation, stays."""
    async with write_transaction():
        moved = (
            await PaymentRequest.update(
                {PaymentRequest.status: "sent", PaymentRequest.sent_at: utcnow(), PaymentRequest.last_error: None}
            )
            # `failed` too: a run that found this one mid-send took it for dead ("delivery uncertain").
            .where((PaymentRequest.id == request.id) & PaymentRequest.status.is_in(["sending", "failed"]))
            .returning(PaymentRequest.id)
        )
        if not moved:
            return
        await Activity.insert(
            *[
                Activity(
                    workspace=request.workspace,
                    invoice_id=line.id,
                    request_id=str(request.id),
                    kind="sent",
                    detail=f"Emailed to {request.client_email}",
                )
                for line in lines
            ]
        )


async def _request(request_id: uuid.UUID) -> _Request | None:
    row = (
        await PaymentRequest.select(
            PaymentRequest.id,
            PaymentRequest.workspace,
            PaymentRequest.status,
            PaymentRequest.subject,
            PaymentRequest.message,
            PaymentRequest.client.name,
            PaymentRequest.client.email,
            PaymentRequest.workspace.name,
            PaymentRequest.workspace.reply_to,
        )
        .where(PaymentRequest.id == request_id)
        .first()
    )
    if row is None:
        return None
    return _Request(
        id=row["id"],
        workspace=row["workspace"],
        status=row["status"],
        subject=row["subject"],
        message=row["message"],
        client_name=row["client.name"],
        client_email=row["client.email"],
        firm=Firm(name=row["workspace.name"], reply_to=row["workspace.reply_to"]),
    )


async def _invoice_lines(request: _Request) -> tuple[list[InvoiceLine], list[str]]:
    """The request's invoices still outstanding, and the numbers of those paid or voided since selection."""
    rows = await PaymentRequestInvoice.select(
        PaymentRequestInvoice.invoice.id,
        PaymentRequestInvoice.invoice.number,
        PaymentRequestInvoice.invoice.currency,
        PaymentRequestInvoice.invoice.amount_due_minor,
        PaymentRequestInvoice.invoice.due_date,
        PaymentRequestInvoice.invoice.status,
    ).where(
        (PaymentRequestInvoice.request == request.id) & (PaymentRequestInvoice.invoice.workspace == request.workspace)
    )
    lines = [
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
    return lines, [row["invoice.number"] for row in rows if row["invoice.status"] != "outstanding"]


async def _claim(request: _Request, *, token_hash: str | None = None) -> bool:
    """Mark the request `sending` if it is still queued; False when another run of the job already did."""
    values: dict[Any, Any] = {PaymentRequest.status: "sending"}
    if token_hash is not None:
        values[PaymentRequest.token_hash] = token_hash
    claimed = (
        await PaymentRequest.update(values)
        .where((PaymentRequest.id == request.id) & (PaymentRequest.status == "queued"))
        .returning(PaymentRequest.id)
    )
    return bool(claimed)


async def _set(request: _Request, **values: Any) -> None:
    await PaymentRequest.update({getattr(PaymentRequest, key): value for key, value in values.items()}).where(
        PaymentRequest.id == request.id
    )


async def _retry_or_fail(ctx: dict[str, Any], request: _Request, reason: str) -> dict[str, str]:
    job = ctx["job"]
    if job.attempts < job.retries:
        await _set(request, last_error=reason)
        raise retry_mail_later(ctx, reason)
    await _fail(ctx, request, reason)
    return {"status": "failed"}


async def _fail(ctx: dict[str, Any], request: _Request, reason: str) -> None:
    await _set(request, status="failed", last_error=reason)
    await Activity(
        workspace=request.workspace, request_id=str(request.id), kind="delivery_failed", detail=reason
    ).save()
    await alert_staff(
        ctx["settings"],
        request.workspace,
        subject="A payment request could not be emailed",
        text=f"The payment request to {request.client_name} could not be emailed. {reason}",
        queue=ctx.get("queue"),
    )


LOST_AFTER = dt.timedelta(minutes=5)
"""A request still `queued` this long after it was made, with no job to send it, was lost by the queue."""
FINISHED = (Status.COMPLETE, Status.FAILED, Status.ABORTED)
"""A job in any other status (queued, running, being swept or aborted, deferred) may still send."""


async def requeue_lost_deliveries(ctx: dict[str, Any], *, older_than_seconds: float | None = None) -> dict[str, int]:
    """Cron: queue a delivery for every request still `queued` whose jobs the queue no longer has.

    The database is the record of what must be sent; the queue can lose jobs (Redis restarted without its
    data). A request waiting for its retry, or for a batch still fanning out, has a live job under its key
    and is left alone. The recovered delivery makes a fresh link (the lost job carried the only copy of the
    old one) and claims the request like any other run, so it is never sent twice.
    """
    queue: Queue = ctx["queue"]
    cutoff = utcnow() - (LOST_AFTER if older_than_seconds is None else dt.timedelta(seconds=older_than_seconds))
    rows = await PaymentRequest.select(PaymentRequest.id, PaymentRequest.batch_id, PaymentRequest.token_hash).where(
        (PaymentRequest.status == "queued") & (PaymentRequest.created_at < cutoff)
    )
    requeued = 0
    for row in rows:
        request_id, link = str(row["id"]), row["token_hash"][:12]
        keys = [f"dispatch:{row['batch_id']}", f"deliver:{request_id}", f"deliver:{request_id}:{link}"]
        if any(job is not None and job.status not in FINISHED for job in await queue.jobs(keys)):
            continue
        if await enqueue(queue, DELIVER, key=f"recover:{request_id}:{link}", request_id=request_id):
            requeued += 1
    if requeued:
        log.warning("lost_deliveries_requeued", count=requeued)
    return {"requeued": requeued}
