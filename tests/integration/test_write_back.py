"""A card payment is recorded in the ledger exactly once, against the connection's payment account."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from saq.job import Job

from jobs.payments import write_back_payment
from ledger.tables import Client, Invoice
from portal.tables import PaymentAllocation
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.factories import make_request
from tests.helpers import auth, json_of
from tests.integration.test_ledger_xero import connected_workspace
from tests.ledger_helpers import recent_invoices
from tests.mailcatcher import Catcher
from tests.stripe_harness import LocalStripe


async def test_card_payment_is_written_back_to_xero_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Any,
    mail: Catcher,
) -> None:
    tenant = xero.sandbox.add_tenant("Write Back Ltd")
    [ledger_invoice, *_] = xero.sandbox.load_seed(
        tenant.tenant_id, recent_invoices(2, xero.sandbox.clock.today(), seed=4)
    )
    token, connection = await connected_workspace(client, workspaces, xero, tenant)
    patched = await client.patch(
        f"/api/v1/ledger-connections/{connection['id']}", json={"payment_account_code": "090"}, headers=auth(token)
    )
    assert patched.status_code == 200
    invoice = await Invoice.objects().where(Invoice.external_id == ledger_invoice.invoice_id).first()
    assert invoice is not None
    customer = await Client.objects().where(Client.id == invoice.client).first()
    assert customer is not None
    link = await make_request(str(invoice.workspace), customer, [invoice])

    opened = await client.get(f"/p/{link}", follow_redirects=False)
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/portal/requests/{request_id}/pay?invoice={invoice.id}")
    headers = {"x-csrftoken": page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
    await stripe_stand_in.confirm_card_setup(setup["client_secret"], "4242424242424242")
    paid = json_of(
        (
            await client.post(
                "/portal/payments",
                json={
                    "request_id": request_id,
                    "invoice_ids": [str(invoice.id)],
                    "setup_intent_id": setup["setup_intent_id"],
                },
                headers=headers,
            )
        ).content
    )
    assert paid["status"] == "succeeded"

    for _ in range(200):
        if xero.sandbox.payments_for(ledger_invoice.invoice_id):
            break
        await asyncio.sleep(0.05)
    [payment] = xero.sandbox.payments_for(ledger_invoice.invoice_id)
    assert payment.amount_minor == invoice.amount_due_minor
    assert payment.account_code == "090"
    assert payment.reference.startswith("pi_")

    # A retried job (the worker died after the ledger answered) records nothing more.
    ctx = {"settings": running_app.state.settings, "http": running_app.state.http, "ledger": running_app.state.ledger}
    ctx["job"] = Job(function="write_back_payment", retries=3, attempts=2)
    assert await write_back_payment(ctx, payment_id=paid["payment_id"]) == {"written": 0}
    # Even when the crash came before we noted the write, the Idempotency-Key makes Xero answer with the same payment.
    await PaymentAllocation.update({PaymentAllocation.written_back_at: None}).where(
        PaymentAllocation.payment == uuid.UUID(paid["payment_id"])
    )
    assert await write_back_payment(ctx, payment_id=paid["payment_id"]) == {"written": 1}
    assert len(xero.sandbox.payments_for(ledger_invoice.invoice_id)) == 1
    assert xero.sandbox.invoice(ledger_invoice.invoice_id).status == "PAID"
    detail = json_of((await client.get(f"/api/v1/invoices/{invoice.id}", headers=auth(token))).content)
    assert detail["status"] == "paid"
    assert {item["kind"] for item in detail["activity"]} >= {"paid", "written_back"}
    assert customer.email
    [receipt] = [m for m in await mail.wait_for(customer.email) if m["Subject"].startswith("Receipt")]
    assert invoice.number in receipt.get_body(("plain",)).get_content()
