"""Row factories: realistic defaults, override what a test cares about."""

from __future__ import annotations

import datetime as dt
import uuid

from ledger.tables import Client, Invoice


async def make_client(
    workspace_id: str, *, name: str = "Acme Pty Ltd", email: str | None = "ap@acme.example"
) -> Client:
    """A ledger client of the workspace."""
    client = Client(
        workspace=uuid.UUID(workspace_id), source="xero", external_id=str(uuid.uuid4()), name=name, email=email
    )
    await client.save()
    return client


async def make_invoice(
    workspace_id: str,
    client: Client,
    *,
    number: str = "INV-0001",
    currency: str = "USD",
    amount_due: int = 12345,
    due_date: dt.date = dt.date(2026, 12, 1),
    status: str = "outstanding",
) -> Invoice:
    """An imported invoice of the workspace."""
    invoice = Invoice(
        workspace=uuid.UUID(workspace_id),
        client=client.id,
        source="xero",
        external_id=str(uuid.uuid4()),
        number=number,
        currency=currency,
        total_minor=amount_due,
        amount_due_minor=amount_due,
        issue_date=due_date - dt.timedelta(days=30),
        due_date=due_date,
        status=status,
        ledger_status="AUTHORISED",
    )
    await invoice.save()
    return invoice


async def make_request(workspace_id: str, client: Client, invoices: list[Invoice], *, settings: str = "{}") -> str:
    """A sent payment request for the invoices; returns the magic-link token (as if from the email)."""
    from portal.links import new_link_token
    from portal.tables import PaymentRequest, PaymentRequestInvoice

    token, digest = new_link_token()
    request = PaymentRequest(
        workspace=uuid.UUID(workspace_id),
        client=client.id,
        batch_id=str(uuid.uuid4()),
        status="sent",
        subject="",
        settings=settings,
        token_hash=digest,
        link_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
    )
    await request.save()
    await PaymentRequestInvoice.insert(
        *[PaymentRequestInvoice(request=request.id, invoice=invoice.id) for invoice in invoices]
    )
    return token
