"""One invoice for staff (activity, copy, mark paid) and the CSV export of a Collections tab."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from core.errors import Conflict
from core.headers import content_disposition
from core.money import to_decimal
from core.scope import WorkspaceScope
from ledger.http import LedgerError
from ledger.pdfs import PdfUnavailable, invoice_pdf
from ledger.services import invoice_detail, list_invoices, mark_paid_manually, undo_manual_payment
from ledger.tables import Invoice
from staff.routes.collections import filters_from
from staff.schemas import StaffIdentity

EXPORT_PAGE = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is a formula to Excel, LibreOffice and Sheets (CSV injection)."""


def csv_text(value: str) -> str:
    """A text cell that a spreadsheet shows as text: a leading formula character gets a `'` before it (OWASP)."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


CSV_COLUMNS = [
    "number",
    "client",
    "client_email",
    "source",
    "issue_date",
    "due_date",
    "currency",
    "amount_due",
    "status",
]


@get("/invoices/{invoice_id:str}")
async def invoice_page(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]
) -> Template:
    """The invoice with its history: imported, requested, opened, paid, failed…"""
    invoice = await invoice_detail(workspace, invoice_id)
    return Template("staff/invoice.html", context={"staff": staff, "invoice": invoice})


@get("/invoices/{invoice_id:str}/pdf")
async def invoice_pdf_for_staff(
    workspace: NamedDependency[WorkspaceScope], state: State, invoice_id: FromPath[str]
) -> Response[bytes]:
    """The ledger's PDF, bytes unchanged."""
    invoice = await workspace.get(Invoice, invoice_id, what="invoice")
    try:
        filename, content = await invoice_pdf(state.ledger, invoice.id)
    except (PdfUnavailable, LedgerError):
        raise Conflict("The ledger could not provide this invoice's PDF right now; try again shortly.") from None
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": content_disposition("inline", filename)}
    )


@post("/invoices/{invoice_id:str}/mark-paid")
async def mark_paid(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]
) -> Redirect:
    """Paid outside the portal (cheque, transfer): leaves Outstanding until undone or the ledger says otherwise."""
    await mark_paid_manually(workspace, invoice_id, by=staff.email)
    return Redirect(f"/staff/invoices/{invoice_id}", status_code=303)


@post("/invoices/{invoice_id:str}/undo-paid")
async def undo_paid(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]
) -> Redirect:
    """Undo a manual "mark paid"."""
    await undo_manual_payment(workspace, invoice_id, by=staff.email)
    return Redirect(f"/staff/invoices/{invoice_id}", status_code=303)


@get("/collections.csv")
async def export_csv(request: Request[Any, Any, Any], workspace: NamedDependency[WorkspaceScope]) -> Stream:
    """The current tab and filters as CSV, streamed page by page (amounts as decimals in the currency)."""
    filters = filters_from(request)

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        cursor = ""
        while True:
            page_filters = msgspec.structs.replace(filters, cursor=cursor)
            page = await list_invoices(workspace, page_filters.query(limit=EXPORT_PAGE))
            for item in page.items:
                writer.writerow(
                    [
                        # Ledger text (numbers, names, emails) is neutralised; amounts and dates are ours.
                        csv_text(item.number),
                        csv_text(item.client.name),
                        csv_text(item.client.email or ""),
                        item.source,
                        item.issue_date.isoformat(),
                        item.due_date.isoformat(),
                        item.currency,
                        str(to_decimal(item.amount_due, item.currency)),
                        item.status,
                    ]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    return Stream(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": content_disposition("attachment", f"invoices-{filters.tab}.csv")},
    )
