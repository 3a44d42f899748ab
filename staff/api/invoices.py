"""`/api/v1/invoices`."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.scope import WorkspaceScope
from ledger.schemas import InvoiceDetailOut
from ledger.services import invoice_detail


@get("/invoices/{invoice_id:str}", summary="An invoice with its activity")
async def get_invoice(workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]) -> InvoiceDetailOut:
    """One invoice of this workspace; another workspace's id is 404."""
    return await invoice_detail(workspace, invoice_id)
