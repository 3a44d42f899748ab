"""Webhooks under fire: random and tampered deliveries change nothing; a genuine one counts once however often it comes.

Contract §5: Stripe answers 400 to a bad signature, Xero and QuickBooks 401; nothing changes. Replays
of a genuine signed body are processed once.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar

from core.tables import WebhookEvent
from ledger.sandbox.quickbooks import sign_webhook as sign_quickbooks
from ledger.sandbox.xero import invoice_webhook
from ledger.sandbox.xero import sign_webhook as sign_xero
from ledger.tables import Invoice, LedgerConnection
from portal.tables import Payment, PaymentAllocation, ScheduledCollection
from tests.collection_helpers import Firm, eventually, firm_with_card_factory
from tests.conftest import BASE_URL, QUICKBOOKS_VERIFIER, XERO_WEBHOOK_KEY, WorkspaceFactory, XeroStandIn
from tests.fuzz.runner import error_shape
from tests.fuzz.seeding import workspace_snapshot
from tests.integration.test_stripe_webhooks import event, signed
from tests.stripe_harness import WEBHOOK_SECRET, LocalStripe

ENDPOINTS = {
    "stripe": ("/webhooks/stripe", "stripe-signature", 400),
    "xero": ("/webhooks/xero", "x-xero-signature", 401),
    "quickbooks": ("/webhooks/quickbooks", "intuit-signature", 401),
}
"""Provider → path, signature header, status for a bad signature."""

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_event_like = st.fixed_dictionaries(
    {"id": st.text(max_size=24), "type": st.sampled_from(["payment_intent.succeeded", "charge.refunded", "x"])},
    optional={"data": _json, "events": _json, "eventNotifications": _json},
)
BODIES = (
    st.binary(max_size=300)
    | _json.map(lambda v: json.dumps(v).encode())
    | _event_like.map(lambda v: json.dumps(v).encode())
)
"""Raw bytes, arbitrary JSON, and JSON that looks like each provider's envelope."""

_b64_digest = st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode())
_stripe_header = st.builds(
    lambda t, digest: f"t={t},v1={digest}", st.integers(0, 2**40), st.binary(min_size=32, max_size=32).map(bytes.hex)
)
SIGNATURES = (
    st.none()
    # requests refuses to send a header value with leading or trailing whitespace, so none is generated.
    | st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).filter(lambda v: v == v.strip())
    | _b64_digest
    | _stripe_header
)
"""No header, garbage, and well-formed signatures that are not the right one."""


WATCHED = (Invoice, Payment, PaymentAllocation, ScheduledCollection, LedgerConnection)
"""What a webhook can change (activity lines are left out: the write-back job still adds them)."""


async def _webhook_state(workspace_id: str) -> tuple[Any, ...]:
    """Every recorded webhook event, and the watched rows of the workspace."""
    events = await WebhookEvent.select(WebhookEvent.provider, WebhookEvent.event_id, WebhookEvent.processed_at)
    watched = await workspace_snapshot(workspace_id, WATCHED)
    return sorted(events, key=lambda row: (row["provider"], row["event_id"])), watched


def _post(session: requests.Session, provider: str, body: bytes, signature: str | None) -> requests.Response:
    path, header, _ = ENDPOINTS[provider]
    headers = {"content-type": "application/json"} | ({header: signature} if signature is not None else {})
    return session.post(BASE_URL + path, data=body, headers=headers)


@pytest.fixture
async def paid_firm(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> tuple[Firm, Payment]:
    """A Xero-connected firm whose invoice was just collected from the client's saved card."""
    firm = await (await firm_with_card_factory(client, workspaces, xero, stripe_stand_in, running_app))(
        "4242424242424242"
    )
    assert (await firm.schedule(client, collect_on=None)).status_code == 201

    async def paid() -> bool:
        return (await firm.detail(client))["status"] == "paid"

    async def written_back() -> bool:
        rows = await PaymentAllocation.select(PaymentAllocation.written_back_at).where(
            PaymentAllocation.invoice == firm.invoice.id
        )
        return bool(rows) and all(row["written_back_at"] for row in rows)

    async def receipted() -> bool:
        rows = await Payment.select(Payment.receipt_sent_at).where(Payment.client == firm.client.id)
        return bool(rows) and all(row["receipt_sent_at"] for row in rows)

    # Every follow-up of the charge done, so nothing but the webhooks can change the rows from here on.
    await eventually(paid)
    await eventually(written_back)
    await eventually(receipted)
    payment = await Payment.objects().where(Payment.client == firm.client.id).first()
    assert payment is not None
    assert payment.stripe_payment_intent_id
    return firm, payment


@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_random_unsigned_deliveries_change_nothing(
    app_requests: requests.Session, paid_firm: tuple[Firm, Payment], provider: str
) -> None:
    firm, _ = paid_firm
    workspace_id = str(firm.invoice.workspace)
    before = await _webhook_state(workspace_id)
    refused = ENDPOINTS[provider][2]
    answers: list[tuple[int, str | None]] = []

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES, signature=SIGNATURES)
    def deliver(body: bytes, signature: str | None) -> None:
        response = _post(app_requests, provider, body, signature)
        answers.append((response.status_code, error_shape(response)))

    await asyncio.to_thread(deliver)

    assert {status for status, _ in answers} == {refused}
    assert [problem for _, problem in answers if problem] == []
    assert await _webhook_state(workspace_id) == before


def _stripe_tampered(body: bytes, header: str) -> list[tuple[bytes, str]]:
    """A genuine body and header, each changed in one way a forger or a replay could."""
    stamp, digest = header.split(",")
    t = int(stamp.removeprefix("t="))
    v1 = digest.removeprefix("v1=")
    flipped = v1[:-1] + ("0" if v1[-1] != "0" else "1")
    return [
        (body, f"{stamp},v1={flipped}"),  # signature
        (body, f"t={t + 1},{digest}"),  # timestamp, not re-signed
        (body + b" ", header),  # body
        (body.replace(b"charge.refunded", b"charge.refundeD"), header),
        signed(json.loads(body), "whsec_not_ours"),  # another account's secret
        signed(json.loads(body), at=int(time.time()) - 301),  # replayed after the tolerance
        (body, f"t={t},v0={v1}"),  # the test-mode scheme only
        (body, ""),
    ]


async def test_tampered_stripe_replays_change_nothing_and_the_genuine_one_counts_once(
    app_requests: requests.Session, paid_firm: tuple[Firm, Payment], running_app: Litestar
) -> None:
    firm, payment = paid_firm
    workspace_id = str(firm.invoice.workspace)
    owed = firm.invoice.amount_due_minor
    assert payment.stripe_payment_intent_id is not None
    await running_app.state.stripe.refund(payment.stripe_payment_intent_id, idempotency_key=f"refund:{payment.id}")
    charge = {"id": "ch_fuzz", "object": "charge", "payment_intent": payment.stripe_payment_intent_id}
    body, header = signed(event("charge.refunded", charge))
    before = await _webhook_state(workspace_id)
    stripe_events = await WebhookEvent.count().where(WebhookEvent.provider == "stripe")

    for forged_body, forged_header in _stripe_tampered(body, header):
        response = await asyncio.to_thread(_post, app_requests, "stripe", forged_body, forged_header)
        assert response.status_code == 400, (forged_body, forged_header)
    assert await _webhook_state(workspace_id) == before

    for _ in range(3):
        assert (await asyncio.to_thread(_post, app_requests, "stripe", body, header)).status_code == 200
    invoice = await Invoice.objects().where(Invoice.id == firm.invoice.id).first()
    assert invoice is not None
    assert (invoice.status, invoice.amount_due_minor) == ("outstanding", owed)  # reopened once, not three times
    assert await WebhookEvent.count().where(WebhookEvent.provider == "stripe") == stripe_events + 1


async def test_tampered_xero_replays_change_nothing_and_the_genuine_one_syncs_once(
    app_requests: requests.Session, paid_firm: tuple[Firm, Payment], xero: XeroStandIn
) -> None:
    firm, _ = paid_firm
    workspace_id = str(firm.invoice.workspace)
    body, signature = invoice_webhook(xero.sandbox, [firm.ledger_invoice.invoice_id])
    before = await _webhook_state(workspace_id)
    xero_events = await WebhookEvent.count().where(WebhookEvent.provider == "xero")
    calls = xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for forged_body, forged_signature in [
        (body, flipped),
        (body + b"\n", signature),
        (body.replace(b"UPDATE", b"CREATE"), signature),
        (body, sign_xero(body, "another-apps-key")),
        (body, base64.b64decode(signature).hex()),
        (body, ""),
    ]:
        response = await asyncio.to_thread(_post, app_requests, "xero", forged_body, forged_signature)
        assert response.status_code == 401
    await asyncio.sleep(0.5)  # a queued sync would have called the ledger by now
    assert await _webhook_state(workspace_id) == before
    assert xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices") == calls

    for _ in range(3):
        assert (await asyncio.to_thread(_post, app_requests, "xero", body, signature)).status_code == 200

    async def synced() -> bool:
        return xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices") > calls

    await eventually(synced)
    await asyncio.sleep(0.5)
    assert xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices") == calls + 1
    assert await WebhookEvent.count().where(WebhookEvent.provider == "xero") == xero_events + 1


async def test_quickbooks_replays_are_recorded_once_and_forgeries_not_at_all(app_requests: requests.Session) -> None:
    payload = {
        "eventNotifications": [
            {
                "realmId": f"realm-{uuid.uuid4().hex[:8]}",
                "dataChangeEvent": {"entities": [{"name": "Invoice", "id": "42", "operation": "Update"}]},
            }
        ]
    }
    body = json.dumps(payload).encode()
    signature = sign_quickbooks(body, QUICKBOOKS_VERIFIER)
    before = await WebhookEvent.count().where(WebhookEvent.provider == "quickbooks")
    for forged_body, forged_signature in [
        (body, sign_quickbooks(body, XERO_WEBHOOK_KEY)),
        (body + b" ", signature),
        (body, signature.lower()),
    ]:
        response = await asyncio.to_thread(_post, app_requests, "quickbooks", forged_body, forged_signature)
        assert response.status_code == 401
    assert await WebhookEvent.count().where(WebhookEvent.provider == "quickbooks") == before
    for _ in range(3):
        assert (await asyncio.to_thread(_post, app_requests, "quickbooks", body, signature)).status_code == 200
    assert await WebhookEvent.count().where(WebhookEvent.provider == "quickbooks") == before + 1


def _sign(provider: str, body: bytes) -> str:
    """The right signature for any raw body, as only the provider could make it."""
    if provider == "xero":
        return sign_xero(body, XERO_WEBHOOK_KEY)
    if provider == "quickbooks":
        return sign_quickbooks(body, QUICKBOOKS_VERIFIER)
    t = int(time.time())
    return f"t={t},v1={hmac.new(WEBHOOK_SECRET.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


@pytest.mark.parametrize("provider", list(ENDPOINTS))
async def test_correctly_signed_nonsense_is_refused_without_a_server_error(
    app_requests: requests.Session, provider: str
) -> None:
    answers: list[tuple[int, str | None, bytes]] = []

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=BODIES)
    def deliver(body: bytes) -> None:
        response = _post(app_requests, provider, body, _sign(provider, body))
        answers.append((response.status_code, error_shape(response), body))

    await asyncio.to_thread(deliver)

    assert [(status, body) for status, _, body in answers if status >= 500] == []
    assert {status for status, _, _ in answers} <= {200, 400}
    assert [problem for _, problem, _ in answers if problem] == []
