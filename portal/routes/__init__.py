"""Client portal pages."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from portal.deps import provide_client, require_client
from portal.routes.links import fresh_link, magic_link
from portal.routes.payment_methods import make_default, payment_methods_page, remove_card, save_card
from portal.routes.payments import create_payment, finish_payment, new_setup_intent, pay_page, payment_result
from portal.routes.requests import invoice_copy, request_view
from portal.routes.webhooks import stripe_webhook

_signed_in = Router(
    path="/",
    guards=[require_client],
    dependencies={"client": Provide(provide_client)},
    route_handlers=[
        request_view,
        invoice_copy,
        pay_page,
        new_setup_intent,
        create_payment,
        finish_payment,
        payment_result,
        payment_methods_page,
        save_card,
        make_default,
        remove_card,
    ],
)

portal_router = Router(
    path="/", route_handlers=[magic_link, fresh_link, stripe_webhook, _signed_in], include_in_schema=False
)
