"""Invoice copies: the ledger's own PDF, cached per ledger version, bytes unchanged."""

from __future__ import annotations

import uuid

from ledger.clients import LedgerContext, client_for
from ledger.tables import Invoice, InvoicePdf, LedgerConnection


class PdfUnavailable(Exception):
    """The ledger could not provide the PDF right now."""


async def invoice_pdf(context: LedgerContext, invoice_id: uuid.UUID) -> tuple[str, bytes]:
    """`(filename, bytes)` of an invoice's PDF; fetched from the ledger when the cached one is stale."""
    invoice = await Invoice.objects().where(Invoice.id == invoice_id).first()
    assert invoice is not None, "callers check workspace access first"
    filename = f"{invoice.number}.pdf"
    version = invoice.ledger_updated_at.isoformat() if invoice.ledger_updated_at else invoice.ledger_status
    cached = await InvoicePdf.objects().where(InvoicePdf.invoice == invoice.id).first()
    if cached is not None and cached.version == version:
        return filename, bytes(cached.content)
    connection = await LedgerConnection.objects().where(LedgerConnection.id == invoice.connection).first()
    if connection is None:
        if cached is not None:
            return filename, bytes(cached.content)
        raise PdfUnavailable("this invoice has no ledger connection")
    content = await client_for(context, connection).invoice_pdf(invoice.external_id)
    await InvoicePdf.insert(InvoicePdf(invoice=invoice.id, version=version, content=content)).on_conflict(
        target=InvoicePdf.invoice,
        action="DO UPDATE",
        values=[InvoicePdf.version, InvoicePdf.content, InvoicePdf.fetched_at],
    )
    return filename, content
