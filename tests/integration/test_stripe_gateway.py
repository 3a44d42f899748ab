"""StripeGateway against an in-process localstripe: customers, saving cards, paying, refunds, webhooks.

These need neither the app nor a database. The browser's part (Stripe.js) is played by the harness, which
makes the same HTTP calls localstripe's fake Stripe.js makes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import stripe

from core.serving import free_port, serving
from core.settings import Settings
from core.stripe_gateway import (
    CardDeclined,
    GatewayNotConfigured,
    InvalidWebhook,
    PaymentMethodNotOwned,
    SavedCard,
    StripeGateway,
    StripeNotFound,
    StripeUnavailable,
)
from tests.stripe_harness import WEBHOOK_SECRET, LocalStripe, StripeJsError, running_localstripe

VISA = "4242424242424242"
DECLINED = "4000000000000002"  # refused when saved (SetupIntent confirm / attach)
CHARGE_FAILS = "4000000000000341"  # saves fine, every charge is declined
THREE_DS = "4000002500003155"  # 3-D Secure when saved and when charged (localstripe: on every charge)
ALWAYS_AUTH = "4000002760003184"  # 3-D Secure on every charge, off-session too


@pytest.fixture(scope="module")
def localstripe() -> Iterator[LocalStripe]:
    """The shared in-process localstripe."""
    with running_localstripe() as running:
        yield running


@pytest.fixture
async def gateway(localstripe: LocalStripe) -> AsyncIterator[StripeGateway]:
    """A gateway pointed at localstripe."""
    gateway = StripeGateway(localstripe.settings())
    yield gateway
    await gateway.aclose()


async def new_customer(gateway: StripeGateway, name: str = "Acme Pty Ltd") -> str:
    """A fresh Customer."""
    return await gateway.ensure_customer(
        existing_id=None, name=name, email="accounts@acme.example", metadata={"client_id": uuid.uuid4().hex}
    )


async def save_card(gateway: StripeGateway, localstripe: LocalStripe, customer_id: str, number: str) -> SavedCard:
    """Steps 1 and 2 of the payment flow: SetupIntent, `confirmCardSetup` on the page, attach on the server."""
    setup = await gateway.create_setup_intent(customer_id, metadata={"purpose": "test"})
    await localstripe.confirm_card_setup(setup.client_secret, number)
    payment_method = await gateway.payment_method_from_setup(setup.id, customer_id=customer_id)
    return await gateway.attach_payment_method(payment_method, customer_id)


async def stripe_get(localstripe: LocalStripe, path: str) -> dict[str, Any]:
    """A raw GET against the fake API, to look at what the gateway left behind."""
    async with httpx.AsyncClient(base_url=localstripe.base_url, timeout=10) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {localstripe.secret_key}"})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def charge(gateway: StripeGateway, customer_id: str, card_id: str, *, off_session: bool = False) -> Any:
    """Charge 123.45 USD."""
    return await gateway.charge(
        customer_id=customer_id,
        payment_method_id=card_id,
        amount_minor=12345,
        currency="USD",
        metadata={"payment_id": "pay_1"},
        idempotency_key=f"test-{uuid.uuid4().hex}",
        off_session=off_session,
    )


# -- customers --


async def test_customer_is_created_then_reused_and_updated(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    assert customer_id.startswith("cus_")

    again = await gateway.ensure_customer(
        existing_id=customer_id, name="Acme Ltd", email="ap@acme.example", metadata={"client_id": "c-1"}
    )

    assert again == customer_id
    stored = await stripe_get(localstripe, f"/v1/customers/{customer_id}")
    assert (stored["name"], stored["email"], stored["metadata"]["client_id"]) == ("Acme Ltd", "ap@acme.example", "c-1")


async def test_missing_customer_is_replaced(gateway: StripeGateway) -> None:
    customer_id = await gateway.ensure_customer(existing_id="cus_gone", name="Acme", email=None, metadata={})

    assert customer_id.startswith("cus_")
    assert customer_id != "cus_gone"


async def test_gateway_needs_a_secret_key() -> None:
    with pytest.raises(GatewayNotConfigured):
        StripeGateway(Settings())


async def test_unreachable_stripe_is_retryable() -> None:
    settings = Settings(stripe_secret_key="sk_test_x", stripe_api_base=f"http://127.0.0.1:{free_port()}")
    gateway = StripeGateway(settings, max_network_retries=0)
    try:
        with pytest.raises(StripeUnavailable) as caught:
            await gateway.ensure_customer(existing_id=None, name="Acme", email=None, metadata={})
    finally:
        await gateway.aclose()
    assert caught.value.retryable


# -- saving and paying --


async def test_saved_card_is_charged(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, VISA)
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    # Attaching again is harmless.
    assert await gateway.attach_payment_method(card.id, customer_id) == card

    outcome = await charge(gateway, customer_id, card.id)

    assert outcome.succeeded
    assert outcome.intent_id is not None
    assert (outcome.amount_minor, outcome.currency, outcome.message) == (12345, "USD", None)
    fetched = await gateway.retrieve_payment_intent(outcome.intent_id)
    assert fetched.status == "succeeded"
    assert (fetched.customer_id, fetched.payment_method_id) == (customer_id, card.id)
    assert fetched.metadata == {"payment_id": "pay_1"}


async def test_declined_card_cannot_be_saved(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    setup = await gateway.create_setup_intent(customer_id, metadata={})

    with pytest.raises(StripeJsError) as on_page:
        await localstripe.confirm_card_setup(setup.client_secret, DECLINED)
    assert (on_page.value.status, on_page.value.code) == (402, "card_declined")

    # The same card reaching the server another way is refused when attached.
    async with httpx.AsyncClient(base_url=localstripe.base_url, timeout=10) as http:
        created = await http.post(
            "/v1/payment_methods",
            headers={"Authorization": f"Bearer {localstripe.secret_key}"},
            data={
                "type": "card",
                "card[number]": DECLINED,
                "card[exp_month]": "12",
                "card[exp_year]": "2034",
                "card[cvc]": "123",
            },
        )
    with pytest.raises(CardDeclined) as declined:
        await gateway.attach_payment_method(created.json()["id"], customer_id)
    assert declined.value.decline_code == "card_declined"
    assert declined.value.client_message == "Your card was declined."


async def test_declined_charge_is_an_outcome(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, CHARGE_FAILS)

    outcome = await charge(gateway, customer_id, card.id)

    assert outcome.status == "requires_payment_method"
    assert outcome.decline_code == "card_declined"
    assert outcome.message == "Your card was declined."
    assert outcome.intent_id is not None, "found through the declined charge"
    fetched = await gateway.retrieve_payment_intent(outcome.intent_id)
    assert (fetched.status, fetched.decline_code) == ("requires_payment_method", "card_declined")


async def test_three_d_secure_card_needs_action_then_succeeds(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, THREE_DS)

    outcome = await charge(gateway, customer_id, card.id)

    assert outcome.needs_action
    assert outcome.intent_id is not None
    assert outcome.client_secret is not None
    assert outcome.client_secret.startswith(f"{outcome.intent_id}_secret_")
    await localstripe.confirm_card_payment(outcome.client_secret)
    assert (await gateway.retrieve_payment_intent(outcome.intent_id)).succeeded


async def test_failed_authentication_leaves_payment_unpaid(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, THREE_DS)
    outcome = await charge(gateway, customer_id, card.id)
    assert outcome.client_secret is not None
    assert outcome.intent_id is not None

    await localstripe.confirm_card_payment(outcome.client_secret, authenticate=False)

    fetched = await gateway.retrieve_payment_intent(outcome.intent_id)
    assert fetched.status == "requires_payment_method"
    assert fetched.decline_code == "payment_intent_authentication_failure"
    assert fetched.message is not None


async def test_off_session_charge_needing_authentication_is_an_outcome(
    gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, ALWAYS_AUTH)

    outcome = await charge(gateway, customer_id, card.id, off_session=True)

    assert outcome.status == "requires_action"
    assert outcome.client_secret is not None
    assert outcome.payment_method_id == card.id


async def test_abandoned_payment_is_canceled(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, THREE_DS)
    outcome = await charge(gateway, customer_id, card.id)
    assert outcome.intent_id is not None

    canceled = await gateway.cancel_payment_intent(outcome.intent_id, idempotency_key=f"cancel-{outcome.intent_id}")

    assert canceled.status == "canceled"
    assert (await gateway.retrieve_payment_intent(outcome.intent_id)).status == "canceled"


async def test_refund(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    card = await save_card(gateway, localstripe, customer_id, VISA)
    outcome = await charge(gateway, customer_id, card.id)
    assert outcome.intent_id is not None

    refund = await gateway.refund(outcome.intent_id, idempotency_key=f"refund-{outcome.intent_id}", amount_minor=345)

    assert (refund.status, refund.amount_minor, refund.currency) == ("succeeded", 345, "USD")


# -- managing saved cards --


async def test_cards_are_listed_defaulted_and_detached(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    customer_id = await new_customer(gateway)
    first = await save_card(gateway, localstripe, customer_id, VISA)
    second = await save_card(gateway, localstripe, customer_id, THREE_DS)
    assert {card.id for card in await gateway.list_payment_methods(customer_id)} == {first.id, second.id}

    await gateway.set_default_payment_method(customer_id, second.id)
    listed = {card.id: card.is_default for card in await gateway.list_payment_methods(customer_id)}
    assert listed == {first.id: False, second.id: True}

    await gateway.detach_payment_method(second.id, customer_id=customer_id)
    assert await gateway.list_payment_methods(customer_id) == [first]
    stored = await stripe_get(localstripe, f"/v1/customers/{customer_id}")
    assert stored["invoice_settings"]["default_payment_method"] is None
    # Detaching twice is harmless.
    await gateway.detach_payment_method(second.id, customer_id=customer_id)


async def test_other_customers_card_is_refused(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    owner = await new_customer(gateway, "Owner")
    intruder = await new_customer(gateway, "Intruder")
    card = await save_card(gateway, localstripe, owner, VISA)
    setup = await gateway.create_setup_intent(owner, metadata={})
    await localstripe.confirm_card_setup(setup.client_secret, VISA)

    with pytest.raises(PaymentMethodNotOwned):
        await gateway.detach_payment_method(card.id, customer_id=intruder)
    with pytest.raises(PaymentMethodNotOwned):
        await gateway.attach_payment_method(card.id, intruder)
    with pytest.raises(PaymentMethodNotOwned):
        await gateway.set_default_payment_method(intruder, card.id)
    with pytest.raises(PaymentMethodNotOwned):
        await charge(gateway, intruder, card.id)
    with pytest.raises(PaymentMethodNotOwned):
        await gateway.payment_method_from_setup(setup.id, customer_id=intruder)
    assert [saved.id for saved in await gateway.list_payment_methods(owner)] == [card.id]


async def test_unknown_payment_method_is_not_found(gateway: StripeGateway) -> None:
    customer_id = await new_customer(gateway)

    with pytest.raises(StripeNotFound):
        await gateway.attach_payment_method("pm_doesnotexist", customer_id)


# -- webhooks --


def _signed(payload: bytes, secret: str = WEBHOOK_SECRET, *, at: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret, timestamp=at)


EVENT = msgspec.json.encode(
    {"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "data": {"object": {"id": "pi_1"}}}
)


async def test_webhook_with_valid_signature_is_accepted(gateway: StripeGateway) -> None:
    event = gateway.verify_webhook(EVENT, _signed(EVENT))

    assert (event["id"], event["type"]) == ("evt_1", "payment_intent.succeeded")


@pytest.mark.parametrize(
    ("body", "header"),
    [
        pytest.param(EVENT.replace(b"evt_1", b"evt_2"), _signed(EVENT), id="tampered-body"),
        pytest.param(EVENT, _signed(EVENT, "whsec_other"), id="wrong-secret"),
        pytest.param(EVENT, _signed(EVENT, at=int(time.time()) - 301), id="stale"),
        pytest.param(EVENT, "", id="missing"),
        pytest.param(EVENT, "garbage", id="malformed"),
        pytest.param(b"[]", _signed(b"[]"), id="not-an-event"),
    ],
)
async def test_webhook_is_refused(gateway: StripeGateway, body: bytes, header: str) -> None:
    with pytest.raises(InvalidWebhook):
        gateway.verify_webhook(body, header)


async def test_webhooks_are_refused_without_a_secret(localstripe: LocalStripe) -> None:
    gateway = StripeGateway(localstripe.settings(webhook_secret=None))
    try:
        with pytest.raises(GatewayNotConfigured):
            gateway.verify_webhook(EVENT, _signed(EVENT))
    finally:
        await gateway.aclose()


class _Receiver:
    """An ASGI endpoint that keeps each webhook delivery's body and Stripe-Signature."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, str]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = dict(scope["headers"])
        self.deliveries.append((body, headers.get(b"stripe-signature", b"").decode()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def test_localstripe_webhooks_pass_verification(gateway: StripeGateway, localstripe: LocalStripe) -> None:
    receiver = _Receiver()
    with serving(receiver) as url:
        localstripe.register_webhook(f"{url}/webhooks/stripe", WEBHOOK_SECRET, events=["payment_intent.succeeded"])
        try:
            customer_id = await new_customer(gateway)
            card = await save_card(gateway, localstripe, customer_id, VISA)
            outcome = await charge(gateway, customer_id, card.id)
            deadline = time.monotonic() + 15
            events: list[dict[str, Any]] = []
            while not any(event["data"]["object"]["id"] == outcome.intent_id for event in events):
                assert time.monotonic() < deadline, "localstripe delivered no payment_intent.succeeded"
                await asyncio.sleep(0.1)
                events = [gateway.verify_webhook(body, header) for body, header in receiver.deliveries]
        finally:
            localstripe.unregister_webhook()

    delivered = next(event for event in events if event["data"]["object"]["id"] == outcome.intent_id)
    assert delivered["type"] == "payment_intent.succeeded"
    assert delivered["data"]["object"]["status"] == "succeeded"
