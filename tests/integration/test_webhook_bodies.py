"""Correctly signed webhook bodies that are not deliveries: 400 in the error shape, nothing recorded, no 500.

Found by the webhook fuzz (tests/fuzz/test_webhook_fuzz.py): each of these was a 500, and the
ledger ones recorded the delivery before failing to read it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from core.tables import WebhookEvent
from ledger.sandbox.quickbooks import sign_webhook as sign_quickbooks
from ledger.sandbox.xero import sign_webhook as sign_xero
from tests.conftest import QUICKBOOKS_VERIFIER, XERO_WEBHOOK_KEY
from tests.helpers import json_of
from tests.integration.test_stripe_webhooks import event, signed
from tests.stripe_harness import WEBHOOK_SECRET


def _stripe_signed_raw(body: bytes) -> str:
    at = int(time.time())
    return f"t={at},v1={hmac.new(WEBHOOK_SECRET.encode(), f'{at}.'.encode() + body, hashlib.sha256).hexdigest()}"


async def _events(provider: str) -> int:
    return await WebhookEvent.count().where(WebhookEvent.provider == provider)


@pytest.mark.parametrize(
    "body",
    [
        {"id": "evt_no_data", "type": "payment_intent.succeeded"},
        {"id": "evt_data_list", "type": "payment_intent.succeeded", "data": []},
        {"id": "evt_object_text", "type": "charge.refunded", "data": {"object": "ch_1"}},
        {"id": "", "type": "charge.refunded", "data": {"object": {}}},
    ],
)
async def test_signed_stripe_body_that_is_not_an_event_is_400(
    client: httpx.AsyncClient, running_app: object, body: dict[str, object]
) -> None:
    raw = json.dumps(body).encode()
    before = await _events("stripe")
    response = await client.post("/webhooks/stripe", content=raw, headers={"stripe-signature": _stripe_signed_raw(raw)})
    assert response.status_code == 400
    assert json_of(response.content)["error"]["code"] == "bad_request"
    assert await _events("stripe") == before


@pytest.mark.parametrize("metadata", ["payment_id", ["x"], {"payment_id": 7}, {"payment_id": "not-a-uuid"}])
async def test_signed_stripe_event_with_odd_metadata_is_ignored(
    client: httpx.AsyncClient, running_app: object, metadata: object
) -> None:
    intent = {"id": "pi_nobody_knows", "object": "payment_intent", "metadata": metadata}
    body, header = signed(event("payment_intent.succeeded", intent))
    response = await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("xero", b"\xff not json"),
        ("xero", b"[]"),
        ("xero", b'{"events": [{"tenantId": 1, "eventCategory": "INVOICE", "resourceId": "x"}]}'),
        ("xero", b'{"events": "INVOICE"}'),
        ("quickbooks", b"\x00"),
        ("quickbooks", b'{"eventNotifications": "Invoice"}'),
        ("quickbooks", b'{"eventNotifications": [{"realmId": "1", "dataChangeEvent": {"entities": [7]}}]}'),
        ("quickbooks", b'[{"type": 3, "intuitentityid": "1"}]'),
    ],
)
async def test_signed_ledger_body_that_is_not_a_delivery_is_400_and_not_recorded(
    client: httpx.AsyncClient, running_app: object, provider: str, body: bytes
) -> None:
    if provider == "xero":
        path, headers = "/webhooks/xero", {"x-xero-signature": sign_xero(body, XERO_WEBHOOK_KEY)}
    else:
        path, headers = "/webhooks/quickbooks", {"intuit-signature": sign_quickbooks(body, QUICKBOOKS_VERIFIER)}
    before = await _events(provider)
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 400
    assert json_of(response.content)["error"]["code"] == "bad_request"
    assert await _events(provider) == before
