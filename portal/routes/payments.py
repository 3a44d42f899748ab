"""Paying: the pay page, the JSON calls its script makes, and the result page."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Template

from core.errors import Conflict, Invalid
from core.headers import INLINE_STYLES_OPT
from core.scope import parse_id
from core.stripe_gateway import CardDeclined, GatewayError, StripeGateway
from jobs.payments import enqueue_receipt, enqueue_write_back
from portal.payments import PaymentStarted, complete_payment, customer_for, own_payment, start_payment
from portal.schemas import ClientSession
from portal.services import request_page
from portal.tables import PaymentRequest


class PaymentCreate(msgspec.Struct, forbid_unknown_fields=True):
    """What the pay page's script sends: which invoices, and a card (new via its SetupIntent, or saved)."""

    request_id: str
    invoice_ids: list[str]
    setup_intent_id: str | None = None
    payment_method_id: str | None = None
    keep_card: bool = False


class SetupOut(msgspec.Struct):
    """The SetupIntent the page confirms with `confirmCardSetup`."""

    setup_intent_id: str
    client_secret: str


def gateway_of(state: State) -> StripeGateway:
    """The process's Stripe gateway; a friendly refusal when card payments are not set up."""
    gateway: StripeGateway | None = state.stripe
    if gateway is None:
        raise Conflict("Card payments are not set up for this firm yet. Please contact them to pay.")
    return gateway


@get("/portal/requests/{request_id:str}/pay", opt={INLINE_STYLES_OPT: True})  # Stripe.js styles its frames inline
async def pay_page(
    request: Request[Any, Any, Any],
    client: NamedDependency[ClientSession],
    state: State,
    request_id: FromPath[str],
    currency: FromQuery[str | None] = None,
) -> Template:
    """Pay one invoice (`?invoice=`, repeatable) or every open invoice of the request in one currency."""
    page = await request_page(client, request_id)
    chosen = set(request.query_params.getall("invoice", []))
    invoices = [
        invoice
        for invoice in page.invoices
        if invoice.status == "outstanding" and (invoice.id in chosen or (not chosen and invoice.currency == currency))
    ]
    if not invoices:
        raise Conflict("There is nothing left to pay here.")
    if len({invoice.currency for invoice in invoices}) > 1:
        raise Invalid("Pay invoices of one currency at a time.", fields={"invoice": "Mixed currencies."})
    gateway = gateway_of(state)
    cards = await gateway.list_payment_methods(await customer_for(gateway, client))
    settings = await _request_settings(request_id)
    return Template(
        "portal/pay.html",
        context={
            "page": page,
            "invoices": invoices,
            "amount": sum(invoice.amount_due for invoice in invoices),
            "currency": invoices[0].currency,
            "cards": cards,
            "save_choice": settings.get("save_payment_method", "optional"),
            "stripe_js_url": state.settings.stripe_js_url,
            "publishable_key": state.settings.stripe_publishable_key or "",
        },
    )


async def _request_settings(request_id: str) -> dict[str, Any]:
    row = await PaymentRequest.select(PaymentRequest.settings).where(PaymentRequest.id == parse_id(request_id)).first()
    raw = row["settings"] if row else "{}"
    value = raw if isinstance(raw, dict) else msgspec.json.decode(raw or "{}")
    return dict(value)


@post("/portal/payments/setup-intent", status_code=200)
async def new_setup_intent(client: NamedDependency[ClientSession], state: State) -> SetupOut:
    """A SetupIntent for the client's Customer: step 1, the page collects the card."""
    gateway = gateway_of(state)
    customer_id = await customer_for(gateway, client)
    ref = await gateway.create_setup_intent(customer_id, metadata={"client_id": client.client_id})
    return SetupOut(setup_intent_id=ref.id, client_secret=ref.client_secret)


@post("/portal/payments", status_code=200)
async def create_payment(
    client: NamedDependency[ClientSession], state: State, data: JSONBody[PaymentCreate]
) -> PaymentStarted:
    """Step 2: attach the card if Stripe has not and charge it once; 3-D Secure comes back as requires_action."""
    gateway = gateway_of(state)
    customer_id = await customer_for(gateway, client)
    try:
        if data.setup_intent_id:
            method = await gateway.payment_method_from_setup(data.setup_intent_id, customer_id=customer_id)
            keep = data.keep_card
        elif data.payment_method_id:
            method, keep = data.payment_method_id, True  # A saved card stays saved.
        else:
            raise Invalid("Choose a card.", fields={"payment_method_id": "Choose a saved card or enter a new one."})
        started = await start_payment(
            gateway,
            client,
            request_id=data.request_id,
            invoice_ids=data.invoice_ids,
            payment_method_id=method,
            keep_card=keep,
        )
    except CardDeclined as declined:
        return PaymentStarted(payment_id="", status="failed", message=declined.client_message)
    except GatewayError as error:
        raise Conflict("We could not reach the card network. Nothing was charged; please try again.") from error
    if started.status == "succeeded":
        await _after_success(state, started.payment_id)
    return started


@post("/portal/payments/{payment_id:str}/complete", status_code=200)
async def finish_payment(
    client: NamedDependency[ClientSession], state: State, payment_id: FromPath[str]
) -> PaymentStarted:
    """Step 3 done on the page (3-D Secure): settle from Stripe's own record of the intent."""
    started = await complete_payment(gateway_of(state), client, payment_id)
    if started.status == "succeeded":
        await _after_success(state, started.payment_id)
    return started


@get("/portal/payments/{payment_id:str}")
async def payment_result(client: NamedDependency[ClientSession], payment_id: FromPath[str]) -> Template:
    """Where a payment stands, in words a client understands."""
    payment = await own_payment(client, payment_id)
    return Template("portal/payment_result.html", context={"payment": payment, "request_id": client.request_id})


async def _after_success(state: State, payment_id: str) -> None:
    await enqueue_write_back(state.queue, payment_id)
    await enqueue_receipt(state.queue, payment_id)
