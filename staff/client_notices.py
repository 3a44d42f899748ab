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


class ClientNotice(NamedTuple):
    """What a notice says, about which invoices, and what each invoice's activity shows for it."""

    workspace_id: uuid.UUID
    client_id: uuid.UUID
    invoice_ids: list[uuid.UUID]
    subject: str
    message: str
    kind: str
    detail: str
    created_by: str


class StoredNotice(NamedTuple):
    """A notice's request row, and the link token its email must carry (only its digest is stored)."""

    request_id: str
    batch_id: str
    token: str


async def queue_client_notice(queue: Queue, notice: ClientNotice) -> str:
    """Store the notice as a request with a fresh link and queue its email; returns the request id."""
    async with write_transaction():
        stored = await store_client_notice(notice)
    await send_stored_notice(queue, stored)
    return stored.request_id


async def store_client_notice(notice: ClientNotice) -> StoredNotice:
    """Write the notice's request, lines and activity; run it inside the caller's write transaction.

    Queue its email with `send_stored_notice` once that transaction has committed.
    """
    lifetime = await Workspace.select(Workspace.link_lifetime_days).where(Workspace.id == notice.workspace_id).first()
    due_dates: list[dt.date] = [
        row["due_date"] for row in await Invoice.select(Invoice.due_date).where(Invoice.id.is_in(notice.invoice_ids))
    ]
    token, digest = new_link_token()
    request = PaymentRequest(
        workspace=notice.workspace_id,
        client=notice.client_id,
        batch_id=str(uuid.uuid4()),
        status="queued",
        subject=notice.subject,
        message=notice.message,
        settings="{}",
        token_hash=digest,
        link_expires_at=link_expiry(utcnow(), due_dates, int(lifetime["link_lifetime_days"]) if lifetime else 30),
        created_by=notice.created_by,
    )
    await request.save()
    await PaymentRequestInvoice.insert(
        *[PaymentRequestInvoice(request=request.id, invoice=invoice_id) for invoice_id in notice.invoice_ids]
    )
    await Activity.insert(
        *[
            Activity(
                workspace=notice.workspace_id,
                invoice_id=str(invoice_id),
                request_id=str(request.id),
                kind=notice.kind,
                detail=notice.detail,
            )
            for invoice_id in notice.invoice_ids
        ]
    )
    return StoredNotice(str(request.id), str(request.batch_id), token)


async def send_stored_notice(queue: Queue, notice: StoredNotice) -> None:
    """Queue the email of a committed notice."""
    await enqueue_delivery(queue, notice.batch_id, {notice.request_id: notice.token})
