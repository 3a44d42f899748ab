"""`/api/v1/invoices`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from core.errors import Conflict
from core.headers import content_disposition
from core.openapi import allowed_values, api_errors
from core.scope import WorkspaceScope
from ledger.http import LedgerError
from ledger.oauth import PROVIDERS
from ledger.pdfs import PdfUnavailable, invoice_pdf
from ledger.schemas import InvoiceDetailOut, InvoiceList, InvoiceListQuery
from ledger.services import SORTS, STATUSES, invoice_detail, list_invoices
from ledger.tables import Invoice


@get(
    "/invoices",
    summary="Invoices with filters, keyset paging and per-currency totals",
    responses=api_errors(400, 401, 422),
)
async def get_invoices(
    workspace: NamedDependency[WorkspaceScope],
    status: Annotated[str, QueryParameter(schema_extra=allowed_values(*STATUSES))] = "outstanding",
    source: Annotated[str | None, QueryParameter(schema_extra=allowed_values(*PROVIDERS))] = None,
    client_id: FromQuery[str | None] = None,
    due_before: FromQuery[dt.date | None] = None,
    due_after: FromQuery[dt.date | None] = None,
    overdue: FromQuery[bool] = False,
    q: FromQuery[str | None] = None,
    sort: Annotated[str, QueryParameter(schema_extra=allowed_values(*SORTS))] = "due_date",
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    cursor: FromQuery[str | None] = None,
) -> InvoiceList:
    """One page of invoices; follow `next_cursor` for the next."""
    query = InvoiceListQuery(
        status=status,
        source=source,
        client_id=client_id,
        due_before=due_before,
        due_after=due_after,
        overdue=overdue,
        q=q,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return await list_invoices(workspace, query)


@get("/invoices/{invoice_id:str}", summary="An invoice with its activity", responses=api_errors(400, 401, 404))
async def get_invoice(workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]) -> InvoiceDetailOut:
    """One invoice of this workspace; another workspace's id is 404."""
    return await invoice_detail(workspace, invoice_id)


@get(
    "/invoices/{invoice_id:str}/pdf",
    summary="The ledger's PDF of the invoice, bytes unchanged",
    media_type="application/pdf",
    responses=api_errors(400, 401, 404, 409),
)
async def get_invoice_pdf(
    workspace: NamedDependency[WorkspaceScope], state: State, invoice_id: FromPath[str]
) -> Response[bytes]:
    """The invoice copy as the ledger renders it."""
    invoice = await workspace.get(Invoice, invoice_id, what="invoice")
    try:
        filename, content = await invoice_pdf(state.ledger, invoice.id)
    except (PdfUnavailable, LedgerError):
        raise Conflict("The ledger could not provide this invoice's PDF right now; try again shortly.") from None
    return Response(
        content,
        media_type="application/pdf",
        headers={"Content-Disposition": content_disposition("inline", filename)},
    )
