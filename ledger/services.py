"""Reading invoices and clients for the API and pages, always within one workspace."""

from __future__ import annotations

from typing import Any

from core.clock import as_utc
from core.scope import WorkspaceScope
from core.tables import Activity
from ledger.schemas import (
    ActivityOut,
    ClientDetailOut,
    ClientRef,
    InvoiceDetailOut,
    LastRequestOut,
    ScheduledCollectionOut,
)
from ledger.tables import Client, Invoice
from portal.tables import PaymentRequestInvoice, ScheduledCollection


async def client_detail(scope: WorkspaceScope, client_id: str) -> ClientDetailOut:
    """A client of this workspace with its saved payment methods."""
    client = await scope.get(Client, client_id, what="client")
    return ClientDetailOut(id=str(client.id), name=client.name, email=client.email, payment_methods=[])


async def invoice_detail(scope: WorkspaceScope, invoice_id: str) -> InvoiceDetailOut:
    """An invoice of this workspace with its activity, newest first."""
    invoice = await scope.get(Invoice, invoice_id, what="invoice")
    client = await Client.objects().where(Client.id == invoice.client).first()
    assert client is not None
    activity = (
        await scope.select(Activity, Activity.at, Activity.kind, Activity.detail)
        .where(Activity.invoice_id == str(invoice.id))
        .order_by(Activity.at, ascending=False)
    )
    return InvoiceDetailOut(
        id=str(invoice.id),
        source=invoice.source,
        external_id=invoice.external_id,
        number=invoice.number,
        reference=invoice.reference,
        client=ClientRef(id=str(client.id), name=client.name, email=client.email),
        currency=invoice.currency,
        total=invoice.total_minor,
        amount_paid=invoice.amount_paid_minor,
        amount_due=invoice.amount_due_minor,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        status=invoice.status,
        ledger_status=invoice.ledger_status,
        has_payment_method=False,
        scheduled_collection=await _scheduled_collection(invoice),
        last_request=await _last_request(invoice),
        activity=[ActivityOut(at=as_utc(row["at"]), kind=row["kind"], detail=row["detail"]) for row in activity],
    )


async def _scheduled_collection(invoice: Invoice) -> ScheduledCollectionOut | None:
    row = (
        await ScheduledCollection.objects()
        .where(
            (ScheduledCollection.invoice == invoice.id) & ScheduledCollection.status.is_in(["scheduled", "processing"])
        )
        .first()
    )
    if row is None:
        return None
    return ScheduledCollectionOut(
        id=str(row.id), collect_on=row.collect_on, status=row.status, payment_method_id=row.payment_method_id
    )


async def _last_request(invoice: Invoice) -> LastRequestOut | None:
    rows: list[dict[str, Any]] = (
        await PaymentRequestInvoice.select(
            PaymentRequestInvoice.request.id,
            PaymentRequestInvoice.request.status,
            PaymentRequestInvoice.request.sent_at,
            PaymentRequestInvoice.request.opened_at,
        )
        .where(PaymentRequestInvoice.invoice == invoice.id)
        .order_by(PaymentRequestInvoice.request.created_at, ascending=False)
        .limit(1)
    )
    if not rows:
        return None
    row = rows[0]
    return LastRequestOut(
        id=str(row["request.id"]),
        status=row["request.status"],
        sent_at=row["request.sent_at"] and as_utc(row["request.sent_at"]),
        opened_at=row["request.opened_at"] and as_utc(row["request.opened_at"]),
    )
