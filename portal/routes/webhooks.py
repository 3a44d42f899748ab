"""`POST /webhooks/stripe`: signature on the raw body, then each event once."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import State

from core.errors import BadRequest
from core.stripe_gateway import GatewayNotConfigured, InvalidWebhook
from jobs.payments import enqueue_receipt, enqueue_reversal, enqueue_write_back
from portal.routes.payments import gateway_of
from portal.stripe_events import handle_event


@post("/webhooks/stripe", status_code=200)
async def stripe_webhook(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """400 and no change for a bad signature; 200 once the event is processed (or was before)."""
    gateway = gateway_of(state)
    body = await request.body()
    try:
        event = gateway.verify_webhook(body, request.headers.get("stripe-signature"))
    except (InvalidWebhook, GatewayNotConfigured):
        raise BadRequest("Invalid Stripe signature.") from None
    follow_up = await handle_event(gateway, state.settings, event)
    if follow_up is not None and follow_up.action == "paid":
        await enqueue_write_back(state.queue, follow_up.payment_id)
        await enqueue_receipt(state.queue, follow_up.payment_id)
    elif follow_up is not None:
        await enqueue_reversal(state.queue, follow_up.payment_id)
    return Response(b"", status_code=200)
