"""Emails the product sends a client on its own (declined collection, bank confirmation, reminders).

Each is a payment request like one staff send: one client, some invoices, a fresh magic link, the invoice
copies attached, and the same exactly-once delivery job; only the subject and message differ.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import NamedTuple

from saq.queue import Queue

from core.clock import utcnow
from core.db import write_transaction
from core.tables import Activity, Workspace
from jobs.requests import enqueue_delivery
from ledger.tables import Invoice
from portal.links import link_expiry, new_link_token
from portal.tables import PaymentRequest, PaymentRequestInvoice


def literal(text: str) -> str:
    """Text safe to put in a message template (braces are placeholders there)."""
    return text.replace("{", "{{").replace("}", "}}")


class StoredNotice(NamedTuple):
    """A notice's request row, and the link token its email must carry (only its digest is stored)."""

    request_id: str
    batch_id: str
    token: str


async def queue_client_notice(
    queue: Queue,
    *,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    invoice_ids: list[uuid.UUID],
    subject: str,
    message: str,
    kind: str,
    detail: str,
    created_by: str,
) -> str:
    """Store the request with a fresh link and queue its email; returns the request id.

    `kind` and `detail` are the activity each invoice shows for it.
    """
    async with write_transaction():
        notice = await store_client_notice(
            workspace_id=workspace_id,
            client_id=client_id,
            invoice_ids=invoice_ids,
            subject=subject,
            message=message,
            kind=kind,
            detail=detail,
            created_by=created_by,
        )
    await send_stored_notice(queue, notice)
    return notice.request_id


async def store_client_notice(
    *,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    invoice_ids: list[uuid.UUID],
    subject: str,
    message: str,
    kind: str,
    detail: str,
    created_by: str,
) -> StoredNotice:
    """Write the notice's request, lines and activity; run it inside the caller's write transaction.

    Queue its email with `send_stored_notice` once that transaction has committed.
    """
    lifetime = await Workspace.select(Workspace.link_lifetime_days).where(Workspace.id == workspace_id).first()
    due_dates: list[dt.date] = [
        row["due_date"] for row in await Invoice.select(Invoice.due_date).where(Invoice.id.is_in(invoice_ids))
    ]
    token, digest = new_link_token()
    request = PaymentRequest(
        workspace=workspace_id,
        client=client_id,
        batch_id=str(uuid.uuid4()),
        status="queued",
        subject=subject,
        message=message,
        settings="{}",
        token_hash=digest,
        link_expires_at=link_expiry(utcnow(), due_dates, int(lifetime["link_lifetime_days"]) if lifetime else 30),
        created_by=created_by,
    )
    await request.save()
    await PaymentRequestInvoice.insert(
        *[PaymentRequestInvoice(request=request.id, invoice=invoice_id) for invoice_id in invoice_ids]
    )
    await Activity.insert(
        *[
            Activity(
                workspace=workspace_id,
                invoice_id=str(invoice_id),
                request_id=str(request.id),
                kind=kind,
                detail=detail,
            )
            for invoice_id in invoice_ids
        ]
    )
    return StoredNotice(str(request.id), str(request.batch_id), token)


async def send_stored_notice(queue: Queue, notice: StoredNotice) -> None:
    """Queue the email of a committed notice."""
    await enqueue_delivery(queue, notice.batch_id, {notice.request_id: notice.token})
