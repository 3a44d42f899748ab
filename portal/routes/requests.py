"""The client's request page and invoice copies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from core.headers import content_disposition
from portal.page_memo import PAGE_ROWS, RequestPageMemo
from portal.payments import release_stale_attempts
from portal.schemas import ClientSession
from portal.services import client_invoice_pdf, request_page

STALE_CHALLENGE = dt.timedelta(minutes=10)
"""A 3-D Secure challenge left this long was abandoned (a closed tab): its invoices become payable again."""


@get("/portal/requests/{request_id:str}", middleware=[RequestPageMemo])
async def request_view(
    client: NamedDependency[ClientSession], state: State, request: Request[Any, Any, Any], request_id: FromPath[str]
) -> Template:
    """Every invoice of the request with amounts, due dates, status and its copy."""
    page = await request_page(client, request_id, rows=request.scope["state"].get(PAGE_ROWS))
    if state.stripe is not None and any(invoice.status == "processing" for invoice in page.invoices):
        await release_stale_attempts(state.stripe, client, older_than=STALE_CHALLENGE)
        page = await request_page(client, request_id)
    # The media type given, not guessed from the template's name on every request.
    return Template("portal/request.html", context={"page": page}, media_type=MediaType.HTML)


@get("/portal/invoices/{invoice_id:str}/pdf")
async def invoice_copy(
    client: NamedDependency[ClientSession], state: State, invoice_id: FromPath[str]
) -> Response[bytes]:
    """The ledger's PDF of one of the client's invoices."""
    filename, content = await client_invoice_pdf(state.ledger, client, invoice_id)
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": content_disposition("inline", filename)}
    )
