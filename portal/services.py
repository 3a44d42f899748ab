"""The client side: opening a magic link, the request page, invoice copies, fresh links."""

from __future__ import annotations

import uuid
from collections import defaultdict

from core.clock import as_utc, utcnow
from core.errors import NotFound
from core.security import token_digest
from core.tables import Activity
from ledger.clients import LedgerContext
from ledger.pdfs import invoice_pdf
from ledger.schemas import CurrencyTotal
from ledger.tables import Invoice
from portal.schemas import ClientSession, PortalInvoice, RequestPage
from portal.tables import PaymentRequest, PaymentRequestInvoice


class LinkGone(Exception):
    """The link is known but expired or revoked (410); `request_id` lets the page offer a fresh one."""

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__("link expired or revoked")
        self.request_id = request_id


async def open_link(token: str, *, ip: str, user_agent: str) -> ClientSession:
    """The client session a valid magic link grants; records the open. NotFound / LinkGone otherwise."""
    request = await PaymentRequest.objects().where(PaymentRequest.token_hash == token_digest(token)).first()
    if request is None:
        raise NotFound("This link is not valid.")
    if request.revoked_at is not None or as_utc(request.link_expires_at) <= utcnow():
        raise LinkGone(request.id)
    now = utcnow()
    if request.opened_at is None:
        await PaymentRequest.update({PaymentRequest.opened_at: now}).where(PaymentRequest.id == request.id)
    await Activity(
        workspace=request.workspace,
        request_id=str(request.id),
        kind="opened",
        detail=f"Link opened from {ip} ({user_agent[:120]})",
    ).save()
    return ClientSession(request_id=str(request.id), client_id=str(request.client), workspace_id=str(request.workspace))


async def request_page(session: ClientSession, request_id: str) -> RequestPage:
    """The request's invoices, for its own client only (anything else is 404)."""
    # Two queries for the hot page a client reloads: the request with its firm and client, then its invoices.
    request = (
        await PaymentRequest.select(
            PaymentRequest.id,
            PaymentRequest.client,
            PaymentRequest.link_expires_at,
            PaymentRequest.workspace.name,
            PaymentRequest.client.name,
        )
        .where(PaymentRequest.id == _id(request_id))
        .first()
    )
    if request is None or str(request["client"]) != session.client_id:
        raise NotFound("Page not found.")
    rows = await PaymentRequestInvoice.select(
        PaymentRequestInvoice.invoice.id,
        PaymentRequestInvoice.invoice.number,
        PaymentRequestInvoice.invoice.currency,
        PaymentRequestInvoice.invoice.total_minor,
        PaymentRequestInvoice.invoice.amount_paid_minor,
        PaymentRequestInvoice.invoice.amount_due_minor,
        PaymentRequestInvoice.invoice.issue_date,
        PaymentRequestInvoice.invoice.due_date,
        PaymentRequestInvoice.invoice.status,
    ).where(PaymentRequestInvoice.request == request["id"])
    today = utcnow().date()
    invoices = [
        PortalInvoice(
            id=str(row["invoice.id"]),
            number=row["invoice.number"],
            currency=row["invoice.currency"],
            total=row["invoice.total_minor"],
            amount_paid=row["invoice.amount_paid_minor"],
            amount_due=row["invoice.amount_due_minor"],
            issue_date=row["invoice.issue_date"],
            due_date=row["invoice.due_date"],
            status=row["invoice.status"],
            overdue=row["invoice.status"] == "outstanding" and row["invoice.due_date"] < today,
        )
        for row in sorted(rows, key=lambda row: (row["invoice.due_date"], row["invoice.number"]))
    ]
    totals: dict[str, int] = defaultdict(int)
    for invoice in invoices:
        if invoice.status == "outstanding":
            totals[invoice.currency] += invoice.amount_due
    return RequestPage(
        request_id=str(request["id"]),
        firm_name=request["workspace.name"],
        client_name=request["client.name"],
        invoices=invoices,
        totals=[CurrencyTotal(currency=c, amount_due=a) for c, a in sorted(totals.items())],
        link_expires_at=as_utc(request["link_expires_at"]),
    )


async def client_invoice_pdf(ledger: LedgerContext, session: ClientSession, invoice_id: str) -> tuple[str, bytes]:
    """An invoice copy, only if the invoice belongs to the signed-in client."""
    invoice = await Invoice.select(Invoice.id, Invoice.client).where(Invoice.id == _id(invoice_id)).first()
    if invoice is None or str(invoice["client"]) != session.client_id:
        raise NotFound("Page not found.")
    return await invoice_pdf(ledger, invoice["id"])


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Page not found.") from None
