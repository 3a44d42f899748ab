"""localstripe in-process: a fake, stateful Stripe API (and fake Stripe.js) on a loopback port for tests.

localstripe is an aiohttp application whose state (the object store and the webhook registry) lives in
module globals, so one process can only have one of it. `running_localstripe()` therefore starts a single
shared server on first use, in a background thread with its own event loop, and stops it when the last
user leaves; nested or concurrent users share it. Tests keep their data apart by creating their own
customers rather than by flushing the store.

The handle also plays the part of the browser: `confirm_card_setup` and `confirm_card_payment` make exactly
the HTTP calls localstripe's fake Stripe.js makes (see docs/localstripe.md), so server-side tests can walk
the whole payment flow without a browser.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec

from core.settings import Settings
from core.stripe_standin import LocalStripeServer

SECRET_KEY = "sk_test_localstripe"
"""localstripe accepts any secret key that starts with `sk_`."""
PUBLISHABLE_KEY = "pk_test_localstripe"
"""…and any publishable key that starts with `pk_` where Stripe.js would send one."""
WEBHOOK_SECRET = "whsec_localstripe"
"""Default STRIPE_WEBHOOK_SECRET in `LocalStripe.settings`; localstripe signs with whatever it is given."""


class StripeJsError(Exception):
    """What the fake Stripe.js would hand back as `result.error`."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class LocalStripe:
    """A running localstripe: where it listens, the keys it accepts, and the browser's side of the flow."""

    base_url: str
    """Use as STRIPE_API_BASE."""
    js_url: str
    """Use as STRIPE_JS_URL: localstripe's fake Stripe.js (`{base_url}/js.stripe.com/v3/`)."""
    secret_key: str = SECRET_KEY
    publishable_key: str = PUBLISHABLE_KEY

    def settings(self, base: Settings | None = None, *, webhook_secret: str | None = WEBHOOK_SECRET) -> Settings:
        """`base` (or default settings) pointed at this localstripe."""
        return msgspec.structs.replace(
            base or Settings(),
            stripe_secret_key=self.secret_key,
            stripe_publishable_key=self.publishable_key,
            stripe_webhook_secret=webhook_secret,
            stripe_api_base=self.base_url,
            stripe_js_url=self.js_url,
        )

    # -- localstripe's own configuration endpoints (not part of Stripe's API) --

    def register_webhook(self, url: str, secret: str, *, name: str = "portal", events: list[str] | None = None) -> None:
        """Have localstripe POST every event (or only `events`) to `url`, signed with `secret` like Stripe does.

        Registering the same `name` again replaces that endpoint. Delivery starts about a second after the
        event, once per event, with no retries.
        """
        body: dict[str, Any] = {"url": url, "secret": secret}
        if events is not None:
            body["events"] = events
        response = httpx.post(f"{self.base_url}/_config/webhooks/{name}", json=body, timeout=10)
        response.raise_for_status()

    def unregister_webhook(self, name: str = "portal") -> None:
        """Stop deliveries to a registered endpoint (localstripe cannot delete one: it gets an empty event filter)."""
        body = {"url": "http://127.0.0.1:9/unused", "secret": "unused", "events": []}
        response = httpx.post(f"{self.base_url}/_config/webhooks/{name}", json=body, timeout=10)
        response.raise_for_status()

    def flush(self) -> None:
        """Forget every object localstripe holds (affects every user of this process's server)."""
        httpx.delete(f"{self.base_url}/_config/data", timeout=10).raise_for_status()

    # -- the browser's side, exactly as localstripe-v3.js does it --

    async def confirm_card_setup(
        self,
        client_secret: str,
        number: str,
        *,
        exp_month: int = 12,
        exp_year: int = 2034,
        cvc: str = "123",
        postal_code: str = "42424",
        authenticate: bool = True,
    ) -> dict[str, Any]:
        """`stripe.confirmCardSetup(client_secret, {payment_method: {card: cardElement}})` for a typed-in card.

        On `requires_action` (3-D Secure) the fake Stripe.js shows a modal; `authenticate` is the button
        the customer presses. Returns the succeeded SetupIntent; raises `StripeJsError` like `result.error`.
        """
        seti = _intent_id(client_secret, "seti")
        url = f"{self.base_url}/v1/setup_intents/{seti}/confirm"
        card = {"number": number, "exp_month": str(exp_month), "exp_year": str(exp_year), "cvc": cvc}
        body: dict[str, Any] = {
            "key": self.publishable_key,
            "use_stripe_sdk": True,
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": card,
                "billing_details": {"address": {"postal_code": postal_code}},
            },
        }
        async with httpx.AsyncClient(timeout=10) as http:
            intent = await _post_like_stripe_js(http, url, body)
            if intent["status"] == "requires_action":
                then = "confirm" if authenticate else "cancel"
                url = f"{self.base_url}/v1/setup_intents/{seti}/{then}"
                again = {"key": self.publishable_key, "use_stripe_sdk": True, "client_secret": client_secret}
                intent = await _post_like_stripe_js(http, url, again)
                if intent["status"] != "succeeded":
                    raise StripeJsError(
                        "The latest attempt to set up the payment method has failed because authentication failed."
                    )
            if intent["status"] != "succeeded":
                raise StripeJsError(f"setup_intent has status {intent['status']}")
        return intent

    async def confirm_card_payment(self, client_secret: str, *, authenticate: bool = True) -> dict[str, Any]:
        """`stripe.confirmCardPayment(client_secret)` on an intent in `requires_action`: the 3-D Secure step.

        Returns the PaymentIntent (succeeded, or back to `requires_payment_method` when authentication
        fails or the card is then declined); raises `StripeJsError` like `result.error`.
        """
        pi = _intent_id(client_secret, "pi")
        url = f"{self.base_url}/v1/payment_intents/{pi}/_authenticate?success={'true' if authenticate else 'false'}"
        async with httpx.AsyncClient(timeout=10) as http:
            return await _post_like_stripe_js(http, url, {"key": self.publishable_key, "client_secret": client_secret})


def _intent_id(client_secret: str, prefix: str) -> str:
    match = re.match(rf"^({prefix}_\w+)_secret_", client_secret)
    if match is None:
        raise StripeJsError(f"not a {prefix} client secret")
    return match.group(1)


async def _post_like_stripe_js(http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    # The fake Stripe.js posts JSON without a Content-Type (a "simple" CORS request) and no secret key.
    response = await http.post(url, content=msgspec.json.encode(body))
    try:
        decoded: Any = response.json()
    except ValueError:
        decoded = {}
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if response.status_code != 200 or error:
        error = error if isinstance(error, dict) else {}
        raise StripeJsError(str(error.get("message", "request failed")), error.get("code"), response.status_code)
    return dict(decoded)


_lock = threading.Lock()
_server: LocalStripeServer | None = None
_port: int | None = None
_users = 0


@contextmanager
def running_localstripe() -> Iterator[LocalStripe]:
    """localstripe on 127.0.0.1 (a free port) for the duration of the block; shared within the process."""
    global _server, _port, _users  # localstripe's own state is process-global
    with _lock:
        if _server is None:
            _server = LocalStripeServer()
        if _port is None:
            _port = _server.start()
        _users += 1
        base_url = f"http://127.0.0.1:{_port}"
    try:
        yield LocalStripe(base_url=base_url, js_url=f"{base_url}/js.stripe.com/v3/")
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _server is not None:
                _server.stop()
                _port = None
