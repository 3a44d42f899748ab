"""The staff JSON API under /api/v1 (contract §4)."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from core.openapi import BEARER
from staff.api.clients import get_client
from staff.api.health import health
from staff.api.invoices import get_invoice, get_invoice_pdf, get_invoices
from staff.api.ledger_connections import create_connection, get_connections, sync_now, update_connection
from staff.api.payment_requests import create_payment_requests, get_payment_request, revoke_payment_request
from staff.api.schedules import cancel_invoice_collection, schedule_invoice_collection
from staff.deps import provide_api_scope, refuse_nul_characters, require_api_token

_authenticated = Router(
    path="/",
    guards=[require_api_token],
    dependencies={"workspace": Provide(provide_api_scope)},
    route_handlers=[
        get_client,
        get_invoices,
        get_invoice,
        get_invoice_pdf,
        create_connection,
        get_connections,
        update_connection,
        sync_now,
        create_payment_requests,
        get_payment_request,
        revoke_payment_request,
        schedule_invoice_collection,
        cancel_invoice_collection,
    ],
    security=[{BEARER: []}],
    before_request=refuse_nul_characters,
)

api_router = Router(path="/api/v1", route_handlers=[health, _authenticated], tags=["staff API"])
