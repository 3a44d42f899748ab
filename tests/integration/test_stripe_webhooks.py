"""Stripe webhooks with real signatures: one payment however events repeat or arrive; bad signatures change nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx

from core.tables import Activity
from ledger.tables import Invoice
from portal.tables import Payment
from staff.services import create_api_token
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import json_of
from tests.stripe_harness import WEBHOOK_SECRET, LocalStripe


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET, *, at: int | None = None) -> tuple[bytes, str]:
    """A body and `Stripe-Signature` header as Stripe makes them."""
    body = json.dumps(event).encode()
    timestamp = at or int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={digest}"


def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A minimal Stripe event envelope."""
    return {"id": f"evt_{uuid.uuid4().hex[:16]}", "object": "event", "type": kind, "data": {"object": obj}}


async def paid_through_page(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    stripe_stand_in: LocalStripe,
    card: str = "4242424242424242",
) -> tuple[dict[str, Any], Invoice]:
    """A client opens their link and pays one invoice the way the page's script does."""
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, email=f"hook-{uuid.uuid4().hex[:6]}@client.example")
    invoice = await make_invoice(created.workspace_id, customer, amount_due=4200)
    token = await make_request(created.workspace_id, customer, [invoice])
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/portal/requests/{request_id}/pay?invoice={invoice.id}")
    csrf = page.text.split('data-csrf="', 1)[1].split('"', 1)[0]
    headers = {"x-csrftoken": csrf}
    setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
    await stripe_stand_in.confirm_card_setup(setup["client_secret"], card)
    paid = await client.post(
        "/portal/payments",
        json={"request_id": request_id, "invoice_ids": [str(invoice.id)], "setup_intent_id": setup["setup_intent_id"]},
        headers=headers,
    )
    return json_of(paid.content), invoice


async def test_bad_signature_changes_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    started, invoice = await paid_through_page(client, workspaces, stripe_stand_in, card="4000000000000341")
    assert started["status"] == "failed"
    payment = await Payment.objects().where(Payment.client == invoice.client).first()
    assert payment is not None
    forged = event("payment_intent.succeeded", {"id": payment.stripe_payment_intent_id, "object": "payment_intent"})
    for body, header in (
        signed(forged, "whsec_wrong"),
        (signed(forged)[0] + b" ", signed(forged)[1]),
        signed(forged, at=int(time.time()) - 3600),
        (signed(forged)[0], ""),
    ):
        response = await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
        assert response.status_code == 400
    row = await Invoice.select(Invoice.status).where(Invoice.id == invoice.id).first()
    assert row == {"status": "outstanding"}


async def test_repeated_and_out_of_order_events_leave_exactly_one_payment(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    started, invoice = await paid_through_page(client, workspaces, stripe_stand_in)
    assert started["status"] == "succeeded"
    payment = await Payment.objects().where(Payment.id == uuid.UUID(started["payment_id"])).first()
    assert payment is not None
    intent = {"id": payment.stripe_payment_intent_id, "object": "payment_intent", "metadata": {}}
    succeeded = event("payment_intent.succeeded", intent)
    stale_failure = event("payment_intent.payment_failed", intent)  # older news, delivered late
    for envelope in (succeeded, stale_failure, succeeded, succeeded):
        body, header = signed(envelope)
        response = await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
        assert response.status_code == 200
    payments = await Payment.select(Payment.status).where(Payment.client == invoice.client)
    assert payments == [{"status": "succeeded"}]
    row = await Invoice.select(Invoice.status, Invoice.amount_due_minor).where(Invoice.id == invoice.id).first()
    assert row == {"status": "paid", "amount_due_minor": 0}


async def test_a_refund_makes_the_invoice_outstanding_again(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe, mail: Any
) -> None:
    started, invoice = await paid_through_page(client, workspaces, stripe_stand_in)
    payment = await Payment.objects().where(Payment.id == uuid.UUID(started["payment_id"])).first()
    assert payment is not None
    charge = {"id": "ch_test", "object": "charge", "payment_intent": payment.stripe_payment_intent_id, "refunded": True}
    for _ in range(2):
        body, header = signed(event("charge.refunded", charge))
        assert (
            await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
        ).status_code == 200
    row = await Invoice.select(Invoice.status, Invoice.amount_due_minor).where(Invoice.id == invoice.id).first()
    assert row == {"status": "outstanding", "amount_due_minor": 4200}
    assert (await Payment.select(Payment.status).where(Payment.id == payment.id).first()) == {"status": "refunded"}


async def test_a_charge_stripe_made_after_we_recorded_a_failure_alerts_the_firm(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe, mail: Any
) -> None:
    started, invoice = await paid_through_page(client, workspaces, stripe_stand_in)
    payment_id = uuid.UUID(started["payment_id"])
    # As if we had given up on the charge and freed the invoice before Stripe's answer came.
    await Payment.update({Payment.status: "failed"}).where(Payment.id == payment_id)
    await Invoice.update({Invoice.status: "outstanding", Invoice.amount_due_minor: 4200}).where(
        Invoice.id == invoice.id
    )
    payment = await Payment.objects().where(Payment.id == payment_id).first()
    assert payment is not None
    body, header = signed(
        event("payment_intent.succeeded", {"id": payment.stripe_payment_intent_id, "object": "payment_intent"})
    )
    delivered = await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
    assert delivered.status_code == 200

    [alert] = await mail.wait_for(workspaces.last_email)
    subject = " ".join(str(alert["Subject"]).split())  # a long subject is folded over two lines
    assert subject == "[Collections] A card payment went through after it was recorded as failed"
    assert str(payment.stripe_payment_intent_id) in alert.get_body(("plain",)).get_content()
    history = await Activity.select(Activity.kind).where(Activity.invoice_id == str(invoice.id))
    assert "payment_late" in [row["kind"] for row in history]


async def test_another_clients_invoice_or_payment_is_404(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    started, theirs = await paid_through_page(client, workspaces, stripe_stand_in)
    created, _ = await workspaces.create()
    mine = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, mine, [await make_invoice(created.workspace_id, mine)])
    client.cookies.clear()
    await client.get(f"/p/{token}")
    assert (await client.get(f"/portal/invoices/{theirs.id}/pdf")).status_code == 404
    assert (await client.get(f"/portal/payments/{started['payment_id']}")).status_code == 404


async def test_two_tabs_paying_at_once_make_one_charge(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, email="tabs@client.example")
    invoice = await make_invoice(created.workspace_id, customer, amount_due=7700)
    token = await make_request(created.workspace_id, customer, [invoice])
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/portal/requests/{request_id}/pay?invoice={invoice.id}")
    headers = {"x-csrftoken": page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    setups = []
    for _ in range(2):
        setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
        await stripe_stand_in.confirm_card_setup(setup["client_secret"], "4242424242424242")
        setups.append(setup["setup_intent_id"])
    body = {"request_id": request_id, "invoice_ids": [str(invoice.id)]}
    first, second = await asyncio.gather(
        *[client.post("/portal/payments", json={**body, "setup_intent_id": s}, headers=headers) for s in setups]
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert await Payment.count().where((Payment.client == customer.id) & (Payment.status == "succeeded")) == 1


async def test_an_abandoned_bank_challenge_frees_the_invoice(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    started, invoice = await paid_through_page(client, workspaces, stripe_stand_in, card="4000002760003184")
    assert started["status"] == "requires_action"
    assert (await Invoice.select(Invoice.status).where(Invoice.id == invoice.id).first()) == {"status": "processing"}
    # The client closed the tab during the challenge; ten minutes later their page lets them pay again.
    await Payment.update({Payment.created_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=11)}).where(
        Payment.id == uuid.UUID(started["payment_id"])
    )
    page = await client.get(f"/portal/payments/{started['payment_id']}")
    link = page.text.split('href="/portal/requests/', 1)[1].split('"', 1)[0]
    again = await client.get(f"/portal/requests/{link}")
    assert 'data-testid="pay-button"' in again.text
    assert (await Invoice.select(Invoice.status).where(Invoice.id == invoice.id).first()) == {"status": "outstanding"}
    assert (await Payment.select(Payment.status).where(Payment.id == uuid.UUID(started["payment_id"])).first()) == {
        "status": "canceled"
    }


async def test_staff_see_when_a_client_keeps_a_card(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, email="keeper@client.example")
    invoice = await make_invoice(created.workspace_id, customer)
    token = await make_request(created.workspace_id, customer, [invoice])
    api = {"Authorization": f"Bearer {await create_api_token(uuid.UUID(created.workspace_id), name='t')}"}

    async def has_card() -> bool:
        body = json_of((await client.get(f"/api/v1/invoices/{invoice.id}", headers=api)).content)
        return bool(body["has_payment_method"])

    assert not await has_card()
    await client.get(f"/p/{token}")
    page = await client.get("/portal/payment-methods")
    headers = {"x-csrftoken": page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
    await stripe_stand_in.confirm_card_setup(setup["client_secret"], "4242424242424242")
    saved = await client.post(
        "/portal/payment-methods", json={"setup_intent_id": setup["setup_intent_id"]}, headers=headers
    )
    assert saved.status_code == 200
    assert await has_card()
    detail = json_of((await client.get(f"/api/v1/clients/{customer.id}", headers=api)).content)
    assert [(m["type"], m["last4"], m["is_default"]) for m in detail["payment_methods"]] == [("card", "4242", False)]

    listing = await client.get("/portal/payment-methods")
    method_id = listing.text.split('data-method-id="', 1)[1].split('"', 1)[0]
    csrf = listing.text.split('name="_csrf_token" value="', 1)[1].split('"', 1)[0]
    await client.post(f"/portal/payment-methods/{method_id}/remove", data={"_csrf_token": csrf})
    assert not await has_card()
