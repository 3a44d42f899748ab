"""The client's saved cards: list, add, set default, remove (only ever on their own Customer)."""

from __future__ import annotations

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from core.errors import Conflict
from core.headers import INLINE_STYLES_OPT
from core.stripe_gateway import CardDeclined, GatewayError, PaymentMethodNotOwned
from portal.deps import require_open_session
from portal.payments import customer_for, refresh_saved_card_flag
from portal.routes.payments import gateway_of
from portal.schemas import ClientSession

NOTICES = {
    "added": "Card saved.",
    "default": "Default card changed.",
    "removed": "Card removed.",
}


class CardSaved(msgspec.Struct, forbid_unknown_fields=True):
    """The SetupIntent the page just confirmed."""

    setup_intent_id: str


class CardSavedOut(msgspec.Struct):
    """Where the page goes next."""

    redirect: str


@get(
    "/portal/payment-methods", opt={INLINE_STYLES_OPT: True}, guards=[require_open_session]
)  # Stripe.js styles its frames inline
async def payment_methods_page(
    client: NamedDependency[ClientSession], state: State, done: FromQuery[str] = ""
) -> Template:
    """Saved cards with the default marked, and a form to add one."""
    gateway = gateway_of(state)
    cards = await gateway.list_payment_methods(await customer_for(gateway, client))
    return Template(
        "portal/payment_methods.html",
        context={
            "cards": cards,
            "notice": NOTICES.get(done),
            "request_id": client.request_id,
            "stripe_js_url": state.settings.stripe_js_url,
            "publishable_key": state.settings.stripe_publishable_key or "",
        },
    )


@post("/portal/payment-methods", status_code=200, guards=[require_open_session])
async def save_card(client: NamedDependency[ClientSession], state: State, data: JSONBody[CardSaved]) -> CardSavedOut:
    """Keep the card a SetupIntent collected (attached by us when Stripe has not)."""
    gateway = gateway_of(state)
    customer_id = await customer_for(gateway, client)
    try:
        method = await gateway.payment_method_from_setup(data.setup_intent_id, customer_id=customer_id)
        await gateway.attach_payment_method(method, customer_id)
        await refresh_saved_card_flag(gateway, client, customer_id)
    except CardDeclined as declined:
        raise Conflict(declined.client_message) from None
    except GatewayError:
        raise Conflict("We could not save this card. Please try again.") from None
    return CardSavedOut(redirect="/portal/payment-methods?done=added")


@post("/portal/payment-methods/{method_id:str}/default", guards=[require_open_session])
async def make_default(client: NamedDependency[ClientSession], state: State, method_id: FromPath[str]) -> Redirect:
    """Charge this card first next time."""
    gateway = gateway_of(state)
    try:
        await gateway.set_default_payment_method(await customer_for(gateway, client), method_id)
    except PaymentMethodNotOwned:
        raise Conflict("That card is not one of yours.") from None
    return Redirect("/portal/payment-methods?done=default", status_code=303)


@post("/portal/payment-methods/{method_id:str}/remove", guards=[require_open_session])
async def remove_card(client: NamedDependency[ClientSession], state: State, method_id: FromPath[str]) -> Redirect:
    """Forget a card."""
    gateway = gateway_of(state)
    customer_id = await customer_for(gateway, client)
    try:
        await gateway.detach_payment_method(method_id, customer_id=customer_id)
    except PaymentMethodNotOwned:
        raise Conflict("That card is not one of yours.") from None
    await refresh_saved_card_flag(gateway, client, customer_id)
    return Redirect("/portal/payment-methods?done=removed", status_code=303)
