"""Public ledger endpoints: the OAuth callback and the webhooks."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Redirect, Template

from core.errors import NotFound
from jobs.ledger import enqueue_sync
from ledger.connections import ConsentFailed, complete_connection
from ledger.oauth import PROVIDERS
from ledger.webhooks import (
    InvoiceChanges,
    connections_for,
    first_delivery,
    quickbooks_changes,
    verify_signature,
    xero_changes,
)


@get("/ledger/callback/{provider:str}")
async def oauth_callback(request: Request[Any, Any, Any], state: State, provider: FromPath[str]) -> Redirect | Template:
    """The provider sends the person back here after consent; connect and queue the first sync."""
    if provider not in PROVIDERS:
        raise NotFound("No such ledger.")
    try:
        connection_ids = await complete_connection(
            state.settings, state.http, provider=provider, params=dict(request.query_params)
        )
    except ConsentFailed as failure:
        return Template(
            "errors/error.html",
            context={"status": 400, "title": "Not connected", "message": str(failure)},
            status_code=400,
        )
    for connection_id in connection_ids:
        await enqueue_sync(state.queue, connection_id)
    return Redirect(f"/staff/collections?connected={len(connection_ids)}", status_code=303)


async def _queue_changes(state: State, provider: str, changes: list[InvoiceChanges]) -> None:
    for change in changes:
        for connection_id in await connections_for(provider, change.tenant_id):
            await enqueue_sync(state.queue, connection_id, invoice_ids=change.invoice_ids)


@post("/webhooks/xero", status_code=200)
async def xero_webhook(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Signed with `x-xero-signature`; 401 when invalid (this also answers Xero's intent-to-receive check)."""
    body = await request.body()
    verify_signature(state.settings.xero_webhook_key, body, request.headers.get("x-xero-signature"))
    changes = xero_changes(body)
    if await first_delivery("xero", body):
        await _queue_changes(state, "xero", changes)
    return Response(b"", status_code=200)


@post("/webhooks/quickbooks", status_code=200)
async def quickbooks_webhook(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """Signed with `intuit-signature` (the verifier token); classic and CloudEvents payloads."""
    body = await request.body()
    verify_signature(state.settings.quickbooks_webhook_verifier, body, request.headers.get("intuit-signature"))
    changes = quickbooks_changes(body)
    if await first_delivery("quickbooks", body):
        await _queue_changes(state, "quickbooks", changes)
    return Response(b"", status_code=200)


ledger_router = Router(
    path="/", route_handlers=[oauth_callback, xero_webhook, quickbooks_webhook], include_in_schema=False
)
