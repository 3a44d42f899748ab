"""The one place the app talks to Stripe: customers, saved cards, payments, refunds and webhook signatures.

Coded to the real Stripe API and kept to the calls and parameters that localstripe (the test and demo
stand-in) also accepts, so the same code runs against both; docs/localstripe.md lists what that rules out.
Every call is async (the library's `*_async` methods over httpx), every write carries an idempotency key,
and every Stripe error becomes one of the exceptions below. Card declines while paying are not errors: they
come back as a `PaymentOutcome` the page can show.

Nothing here logs card data, client secrets, keys or e-mail addresses.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal, NamedTuple, TypeVar, cast

import msgspec
import stripe
import structlog
from stripe.params import PaymentIntentCreateParams, SetupIntentCreateParams

from core.settings import Settings

log = structlog.get_logger()

WEBHOOK_TOLERANCE_SECONDS = 300
"""How old a webhook's signed timestamp may be (contract §5)."""

INTENT_API_VERSION = "2025-03-31.basil"
"""Stripe API version for creating PaymentIntents and SetupIntents.

The payment page uses the Card Element, so intents must be card-only and confirmable on the server without a
`return_url`. On the API version this library pins, that takes `allowed_payment_method_types` or
`automatic_payment_methods[allow_redirects]=never`, which localstripe rejects; on this older version
`payment_method_types=["card"]` does it, and both Stripe and localstripe accept it. Only these two requests
use it; the fields we read back are the same in every version.
"""

IntentStatus = Literal[
    "requires_payment_method",
    "requires_confirmation",
    "requires_action",
    "processing",
    "requires_capture",
    "canceled",
    "succeeded",
]
"""Stripe's PaymentIntent statuses. `charge` only produces succeeded, processing, requires_action and
requires_payment_method; retrieving an intent may show any of them."""

_INTENT_STATUSES: frozenset[str] = frozenset(IntentStatus.__args__)  # type: ignore[attr-defined]

_DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "invalid_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "invalid_number": "Your card number is incorrect.",
    "invalid_expiry_month": "Your card's expiration date is incorrect.",
    "invalid_expiry_year": "Your card's expiration date is incorrect.",
    "processing_error": "An error occurred while processing your card. Please try again.",
    "authentication_required": "Your bank needs you to confirm this payment.",
    "payment_intent_authentication_failure": "Your bank did not confirm this payment. Try again or use another card.",
    "setup_intent_authentication_failure": "Your bank did not confirm this card. Try again or use another card.",
}
"""Client-facing text by decline or error code. Anything else (including lost, stolen and fraudulent cards,
which Stripe advises not to reveal) reads as a plain decline."""
_GENERIC_DECLINE = "Your card was declined."
_NEEDS_ACTION = "Confirm this payment with your bank to finish."


class GatewayError(Exception):
    """Stripe refused or failed a request; `message` is safe to log (no card data or secrets)."""

    retryable: bool = False
    """True when the same request may work later (network trouble, rate limits, Stripe outages)."""

    def __init__(self, message: str, *, code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        """Stripe's error code, when it sent one."""
        self.http_status = http_status


class GatewayNotConfigured(GatewayError):
    """A Stripe key or webhook secret is missing, or Stripe rejected the key."""


class StripeUnavailable(GatewayError):
    """Stripe could not be reached or answered with a server error or rate limit; try again later."""

    retryable = True


class StripeNotFound(GatewayError):
    """The Stripe object does not exist (or was deleted)."""


class PaymentMethodNotOwned(GatewayError):
    """The payment method belongs to another customer (or to none, where ours was expected)."""


class SetupIncomplete(GatewayError):
    """The SetupIntent has not succeeded, so it has no usable payment method yet."""


class CardDeclined(GatewayError):
    """The card was refused while saving it; `client_message` is fit to show the client."""

    def __init__(self, client_message: str, *, decline_code: str | None, http_status: int | None = 402) -> None:
        super().__init__(f"card declined ({decline_code or 'unknown'})", code=decline_code, http_status=http_status)
        self.client_message = client_message
        self.decline_code = decline_code


class InvalidWebhook(GatewayError):
    """A webhook body that must be refused: bad signature, stale timestamp, or not an event."""


class SetupIntentRef(NamedTuple):
    """What the payment page needs to run `confirmCardSetup`."""

    id: str
    client_secret: str


class SavedCard(msgspec.Struct, frozen=True, kw_only=True):
    """A card saved on a Stripe Customer, as shown in the portal (contract §4 `payment_methods`)."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = False


class PaymentOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """Where a PaymentIntent stands after a charge attempt or a retrieval.

    `status` is `requires_action` both when the intent needs 3-D Secure on the page and when an off-session
    charge was refused with `authentication_required`; either way the page finishes it with
    `confirmCardPayment(client_secret, {payment_method: payment_method_id})`.
    """

    intent_id: str | None
    """None only when a decline left no PaymentIntent we could find."""
    status: IntentStatus
    amount_minor: int
    currency: str
    """ISO code, upper case."""
    client_secret: str | None = None
    """For the page's `confirmCardPayment`; never log or store it."""
    payment_method_id: str | None = None
    customer_id: str | None = None
    decline_code: str | None = None
    message: str | None = None
    """Client-facing explanation when the payment did not succeed; None otherwise."""
    metadata: dict[str, str] = msgspec.field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """True once the money is collected."""
        return self.status == "succeeded"

    @property
    def needs_action(self) -> bool:
        """True when the client must authenticate on the page."""
        return self.status == "requires_action"


class RefundOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A refund Stripe accepted."""

    id: str
    status: str
    amount_minor: int
    currency: str


class StripeGateway:
    """Typed async access to the Stripe API for one account, built from `Settings`; close with `aclose()`."""

    def __init__(self, settings: Settings, *, timeout_seconds: float = 30, max_network_retries: int = 2) -> None:
        """Build the client; raises `GatewayNotConfigured` without STRIPE_SECRET_KEY."""
        if not settings.stripe_secret_key:
            raise GatewayNotConfigured("STRIPE_SECRET_KEY is not set")
        self._webhook_secret = settings.stripe_webhook_secret
        # Async only: a sync call would block the event loop, so the httpx client refuses them.
        self._http = stripe.HTTPXClient(timeout=timeout_seconds, allow_sync_methods=False)
        self._client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses={"api": settings.stripe_api_base.rstrip("/")},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.close_async()  # type: ignore[no-untyped-call]  # the library leaves it unannotated

    # -- customers --

    async def ensure_customer(
        self,
        *,
        existing_id: str | None,
        name: str,
        email: str | None,
        metadata: dict[str, str],
        idempotency_key: str | None = None,
    ) -> str:
        """A live Customer id for this client, reusing `existing_id` while Stripe still has it.

        The reused Customer's name, email and metadata are brought up to date; a missing or deleted one is
        replaced by a new Customer, created with `idempotency_key` when the caller has a natural one.
        """
        if existing_id:
            try:
                customer = await self._call(self._client.v1.customers.retrieve_async(existing_id))
            except StripeNotFound:
                customer = None
            if customer is not None and not customer.get("deleted"):
                changes: dict[str, Any] = {}
                if customer.get("name") != name:
                    changes["name"] = name
                if email is not None and customer.get("email") != email:
                    changes["email"] = email
                current = customer.get("metadata") or {}
                stale = {key: value for key, value in metadata.items() if current.get(key) != value}
                if stale:
                    changes["metadata"] = stale
                if changes:
                    await self._call(
                        self._client.v1.customers.update_async(
                            existing_id, cast(Any, changes), _options(_key("customer-update"))
                        )
                    )
                return existing_id
            log.info("stripe.customer_replaced", customer_id=existing_id)
        params: dict[str, Any] = {"name": name, "metadata": metadata}
        if email is not None:
            params["email"] = email
        created = await self._call(
            self._client.v1.customers.create_async(
                cast(Any, params), _options(idempotency_key or _key("customer-create"))
            )
        )
        customer_id = _str(created, "id")
        log.info("stripe.customer_created", customer_id=customer_id)
        return customer_id

    # -- saving cards --

    async def create_setup_intent(
        self, customer_id: str, *, metadata: dict[str, str], idempotency_key: str | None = None
    ) -> SetupIntentRef:
        """A card-only SetupIntent for the page's `confirmCardSetup`; the card may later be charged off-session."""
        params: SetupIntentCreateParams = {"customer": customer_id, "usage": "off_session", "metadata": metadata}
        intent = await self._call(
            self._client.v1.setup_intents.create_async(
                _card_only(params), _options(idempotency_key or _key("setup-intent"), stripe_version=INTENT_API_VERSION)
            )
        )
        return SetupIntentRef(id=_str(intent, "id"), client_secret=_str(intent, "client_secret"))

    async def payment_method_from_setup(self, setup_intent_id: str, *, customer_id: str) -> str:
        """The payment method a succeeded SetupIntent of this customer collected (don't trust one the page names)."""
        intent = await self._call(self._client.v1.setup_intents.retrieve_async(setup_intent_id))
        if _id_of(intent.get("customer")) != customer_id:
            raise PaymentMethodNotOwned("setup intent belongs to another customer")
        payment_method = _id_of(intent.get("payment_method"))
        if intent.get("status") != "succeeded" or payment_method is None:
            raise SetupIncomplete(f"setup intent is {intent.get('status')}")
        return payment_method

    async def attach_payment_method(
        self, payment_method_id: str, customer_id: str, *, idempotency_key: str | None = None
    ) -> SavedCard:
        """Attach a card to the customer unless it already is; refuses a card attached to someone else.

        Raises `CardDeclined` when the issuer refuses the card (the client message says why).
        """
        method = await self._retrieve_payment_method(payment_method_id)
        owner = _id_of(method.get("customer"))
        if owner == customer_id:
            return _saved_card(method)
        if owner is not None:
            raise PaymentMethodNotOwned("payment method is attached to another customer")
        try:
            attached = await self._client.v1.payment_methods.attach_async(
                payment_method_id,
                {"customer": customer_id},
                _options(idempotency_key or _key("attach")),
            )
        except stripe.CardError as exc:
            error = _error_body(exc)
            code = _opt_str(error, "decline_code") or _opt_str(error, "code")
            log.info("stripe.attach_declined", customer_id=customer_id, decline_code=code)
            raise CardDeclined(_client_message(code), decline_code=code, http_status=exc.http_status) from exc
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return _saved_card(attached.to_dict())

    async def list_payment_methods(self, customer_id: str) -> list[SavedCard]:
        """The customer's saved cards in Stripe's order, the default (`invoice_settings`) flagged."""
        customer = await self._call(self._client.v1.customers.retrieve_async(customer_id))
        if customer.get("deleted"):
            raise StripeNotFound("customer was deleted")
        default_id = _id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))
        cards: list[SavedCard] = []
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"customer": customer_id, "type": "card", "limit": 100}
            if starting_after:
                params["starting_after"] = starting_after
            page = await self._call(self._client.v1.payment_methods.list_async(cast(Any, params)))
            data: list[dict[str, Any]] = page.get("data") or []
            cards.extend(_saved_card(method, default_id=default_id) for method in data)
            if not page.get("has_more") or not data:
                return cards
            starting_after = _str(data[-1], "id")

    async def set_default_payment_method(
        self, customer_id: str, payment_method_id: str, *, idempotency_key: str | None = None
    ) -> None:
        """Make one of the customer's own cards the default for later charges."""
        method = await self._retrieve_payment_method(payment_method_id)
        if _id_of(method.get("customer")) != customer_id:
            raise PaymentMethodNotOwned("payment method is not attached to this customer")
        await self._call(
            self._client.v1.customers.update_async(
                customer_id,
                {"invoice_settings": {"default_payment_method": payment_method_id}},
                _options(idempotency_key or _key("set-default")),
            )
        )

    async def detach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str | None = None
    ) -> None:
        """Remove a card from the customer (no-op if it is attached to no one); refuses anyone else's card."""
        method = await self._retrieve_payment_method(payment_method_id)
        owner = _id_of(method.get("customer"))
        if owner is None:
            return
        if owner != customer_id:
            raise PaymentMethodNotOwned("payment method is attached to another customer")
        key = idempotency_key or _key("detach")
        customer = await self._call(self._client.v1.customers.retrieve_async(customer_id))
        if _id_of((customer.get("invoice_settings") or {}).get("default_payment_method")) == payment_method_id:
            # Clear the default first so the customer never points at a detached card.
            await self._call(
                self._client.v1.customers.update_async(
                    customer_id, {"invoice_settings": {"default_payment_method": ""}}, _options(f"{key}:default")
                )
            )
        await self._call(self._client.v1.payment_methods.detach_async(payment_method_id, None, _options(key)))

    # -- payments --

    async def charge(
        self,
        *,
        customer_id: str,
        payment_method_id: str,
        amount_minor: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        off_session: bool = False,
    ) -> PaymentOutcome:
        """Create and confirm a card PaymentIntent with one of the customer's own cards.

        Declines come back as an outcome with `status="requires_payment_method"`, a decline code and a
        client message; cards needing 3-D Secure come back as `requires_action` with the client secret,
        on-session and off-session alike. Other failures raise `GatewayError`.
        """
        if amount_minor <= 0:
            raise ValueError("amount_minor must be positive")
        method = await self._retrieve_payment_method(payment_method_id)
        if _id_of(method.get("customer")) != customer_id:
            # Stripe would refuse this too; localstripe would not, so check here for both.
            raise PaymentMethodNotOwned("payment method is not attached to this customer")
        params: PaymentIntentCreateParams = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "confirm": True,
            "metadata": metadata,
        }
        if off_session:
            params["off_session"] = True
        # No retries by the library here: they resend with the same idempotency key, which Stripe answers with
        # the first intent but localstripe turns into a second charge. A lost answer surfaces as
        # StripeUnavailable instead, and the caller looks for the intent (`find_charged_intent`) before any
        # new attempt, which is exactly once on both.
        options = _options(idempotency_key, stripe_version=INTENT_API_VERSION)
        options["max_network_retries"] = 0
        try:
            intent = await self._client.v1.payment_intents.create_async(_card_only(params), options)
        except stripe.CardError as exc:
            outcome = await self._declined(
                exc,
                amount_minor=amount_minor,
                currency=currency,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                metadata=metadata,
            )
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        else:
            outcome = _outcome(intent.to_dict())
        log.info(
            "stripe.charge",
            intent_id=outcome.intent_id,
            status=outcome.status,
            decline_code=outcome.decline_code,
            off_session=off_session,
        )
        return outcome

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentOutcome:
        """The PaymentIntent as Stripe has it now (after 3-D Secure, or to check a webhook's claim)."""
        return _outcome(await self._call(self._client.v1.payment_intents.retrieve_async(intent_id)))

    async def find_charged_intent(
        self, *, customer_id: str, payment_id: str, amount_minor: int, currency: str
    ) -> PaymentOutcome | None:
        """The customer's PaymentIntent made for our `payment_id` that reached a charge, if any.

        Recovers a charge whose answer was lost (the worker died while Stripe was answering). Stripe's
        idempotency key would return that intent anyway; this also holds where keys are ignored (localstripe).
        It walks the customer's charges (a list both accept) and reads the intents behind the matching ones.
        """
        seen: set[str] = set()
        starting_after: str | None = None
        while True:
            params: dict[str, Any] = {"customer": customer_id, "limit": 100}
            if starting_after:
                params["starting_after"] = starting_after
            page = await self._call(self._client.v1.charges.list_async(cast(Any, params)))
            charges: list[dict[str, Any]] = page.get("data") or []
            for charge in charges:
                intent_id = _id_of(charge.get("payment_intent"))
                if (
                    intent_id is None
                    or intent_id in seen
                    or int(charge.get("amount") or 0) != amount_minor
                    or str(charge.get("currency") or "").upper() != currency.upper()
                ):
                    continue
                seen.add(intent_id)
                outcome = await self.retrieve_payment_intent(intent_id)
                if outcome.metadata.get("payment_id") == payment_id:
                    return outcome
            if not page.get("has_more") or not charges:
                return None
            starting_after = _str(charges[-1], "id")

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> PaymentOutcome:
        """Give up on a payment that has not gone through (e.g. 3-D Secure abandoned), so it can never succeed later."""
        return _outcome(
            await self._call(self._client.v1.payment_intents.cancel_async(intent_id, None, _options(idempotency_key)))
        )

    async def refund(self, intent_id: str, *, idempotency_key: str, amount_minor: int | None = None) -> RefundOutcome:
        """Refund a succeeded payment in full, or `amount_minor` of it."""
        params: dict[str, Any] = {"payment_intent": intent_id}
        if amount_minor is not None:
            params["amount"] = amount_minor
        refund = await self._call(self._client.v1.refunds.create_async(cast(Any, params), _options(idempotency_key)))
        log.info("stripe.refund", intent_id=intent_id, refund_id=refund.get("id"), status=refund.get("status"))
        return RefundOutcome(
            id=_str(refund, "id"),
            status=_str(refund, "status"),
            amount_minor=int(refund["amount"]),
            currency=_str(refund, "currency").upper(),
        )

    # -- webhooks --

    def verify_webhook(self, raw_body: bytes, signature_header: str | None) -> dict[str, Any]:
        """The event in a webhook body whose `Stripe-Signature` checks out against STRIPE_WEBHOOK_SECRET.

        Raises `InvalidWebhook` for a missing or wrong signature, a timestamp older than 300 s, or a body
        that is not an event, and `GatewayNotConfigured` when no webhook secret is set (never accept unsigned).
        """
        if not self._webhook_secret:
            raise GatewayNotConfigured("STRIPE_WEBHOOK_SECRET is not set; refusing webhooks")
        if not signature_header:
            raise InvalidWebhook("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                raw_body, signature_header, self._webhook_secret, WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise InvalidWebhook(f"bad Stripe-Signature: {exc.user_message}") from exc
        except (ValueError, IndexError) as exc:  # undecodable body or unparseable header
            raise InvalidWebhook("malformed webhook") from exc
        try:
            event = json.loads(raw_body)
        except ValueError as exc:
            raise InvalidWebhook("webhook body is not JSON") from exc
        if (
            not isinstance(event, dict)
            or not event.get("id")
            or not isinstance(event.get("id"), str)
            or not isinstance(event.get("type"), str)
            or not isinstance(event.get("data"), dict)
            or not isinstance(event["data"].get("object"), dict)
        ):
            raise InvalidWebhook("webhook body is not a Stripe event")
        return event

    # -- internals --

    async def _call(self, request: Any) -> dict[str, Any]:
        """Await a library call and return its object as a plain dict, translating Stripe's errors."""
        try:
            result = await request
        except stripe.StripeError as exc:
            raise _translate(exc) from exc
        return cast(dict[str, Any], result.to_dict())

    async def _retrieve_payment_method(self, payment_method_id: str) -> dict[str, Any]:
        return await self._call(self._client.v1.payment_methods.retrieve_async(payment_method_id))

    async def _declined(
        self,
        exc: stripe.CardError,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str,
        payment_method_id: str,
        metadata: dict[str, str],
    ) -> PaymentOutcome:
        """The outcome of a charge Stripe refused with a card error (402)."""
        error = _error_body(exc)
        code = _opt_str(error, "code")
        decline_code = _opt_str(error, "decline_code") or code
        intent = error.get("payment_intent")
        if not isinstance(intent, dict):
            intent = await self._intent_of_charge(_opt_str(error, "charge"))
        if code == "authentication_required":
            status: IntentStatus = "requires_action"
        elif intent is not None and intent.get("status") in ("canceled", "processing"):
            status = cast(IntentStatus, intent["status"])
        else:
            status = "requires_payment_method"
        return PaymentOutcome(
            intent_id=_opt_str(intent, "id") if intent else None,
            status=status,
            amount_minor=amount_minor,
            currency=currency.upper(),
            client_secret=_opt_str(intent, "client_secret") if intent else None,
            payment_method_id=payment_method_id,
            customer_id=customer_id,
            decline_code=decline_code,
            message=_client_message(decline_code),
            metadata=dict(metadata),
        )

    async def _intent_of_charge(self, charge_id: str | None) -> dict[str, Any] | None:
        """The PaymentIntent behind a declined charge, for errors that don't include it (localstripe's)."""
        if not charge_id:
            return None
        try:
            charge = await self._call(self._client.v1.charges.retrieve_async(charge_id))
            intent_id = _id_of(charge.get("payment_intent"))
            if intent_id is None:
                return None
            return await self._call(self._client.v1.payment_intents.retrieve_async(intent_id))
        except GatewayError:
            return None


_Params = TypeVar("_Params", PaymentIntentCreateParams, SetupIntentCreateParams)


def _card_only(params: _Params) -> _Params:
    """Make an intent card-only with `payment_method_types`, which INTENT_API_VERSION (the version these
    requests are sent with) and localstripe accept, but this library's types, written for a newer version,
    no longer list."""
    cast(dict[str, Any], params)["payment_method_types"] = ["card"]
    return params


def _options(idempotency_key: str, *, stripe_version: str | None = None) -> stripe.RequestOptions:
    options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
    if stripe_version is not None:
        options["stripe_version"] = stripe_version
    return options


def _key(kind: str) -> str:
    """A fresh idempotency key: protects one call's own retries when the caller has no natural key."""
    return f"portal-{kind}-{uuid.uuid4().hex}"


def _translate(exc: stripe.StripeError) -> GatewayError:
    """Stripe's exception as ours; messages are Stripe's (they name ids, never card numbers)."""
    error = _error_body(exc)
    code = _opt_str(error, "code") or exc.code
    message = str(exc.user_message or type(exc).__name__)
    status = exc.http_status
    if isinstance(exc, stripe.CardError):
        decline_code = _opt_str(error, "decline_code") or code
        return CardDeclined(_client_message(decline_code), decline_code=decline_code, http_status=status)
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError) or (
        isinstance(exc, stripe.APIError) and (status is None or status >= 500)
    ):
        return StripeUnavailable(message, code=code, http_status=status)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayNotConfigured(f"Stripe refused the API key: {message}", code=code, http_status=status)
    if status == 404 or code == "resource_missing":
        return StripeNotFound(message, code=code, http_status=status)
    return GatewayError(message, code=code, http_status=status)


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return cast(dict[str, Any], body["error"])
    return {}


def _client_message(code: str | None) -> str:
    return _DECLINE_MESSAGES.get(code or "", _GENERIC_DECLINE)


def _outcome(intent: dict[str, Any]) -> PaymentOutcome:
    """A PaymentOutcome from a PaymentIntent object."""
    raw_status = _str(intent, "status")
    if raw_status not in _INTENT_STATUSES:
        raise GatewayError(f"unknown PaymentIntent status {raw_status!r}")
    status = cast(IntentStatus, raw_status)
    error = intent.get("last_payment_error") or {}
    decline_code = None
    message = None
    if status == "requires_payment_method" and error:
        decline_code = _opt_str(error, "decline_code") or _opt_str(error, "code")
        message = _client_message(decline_code)
    elif status == "requires_action":
        message = _NEEDS_ACTION
    payment_method = _id_of(intent.get("payment_method")) or _id_of(error.get("payment_method"))
    return PaymentOutcome(
        intent_id=_str(intent, "id"),
        status=status,
        amount_minor=int(intent["amount"]),
        currency=_str(intent, "currency").upper(),
        client_secret=_opt_str(intent, "client_secret"),
        payment_method_id=payment_method,
        customer_id=_id_of(intent.get("customer")),
        decline_code=decline_code,
        message=message,
        metadata={str(key): str(value) for key, value in (intent.get("metadata") or {}).items()},
    )


def _saved_card(method: dict[str, Any], *, default_id: str | None = None) -> SavedCard:
    card = method.get("card") or {}
    return SavedCard(
        id=_str(method, "id"),
        brand=str(card.get("brand") or "card"),
        last4=str(card.get("last4") or ""),
        exp_month=int(card.get("exp_month") or 0),
        exp_year=int(card.get("exp_year") or 0),
        is_default=default_id is not None and method.get("id") == default_id,
    )


def _id_of(value: Any) -> str | None:
    """An expandable field's id, whether Stripe sent the id or the object (localstripe often sends objects)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return cast(str, value["id"])
    return None


def _str(obj: dict[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise GatewayError(f"Stripe response lacks {key!r}")
    return value


def _opt_str(obj: dict[str, Any] | None, key: str) -> str | None:
    value = (obj or {}).get(key)
    return value if isinstance(value, str) and value else None
