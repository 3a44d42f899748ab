"""Shared set-up for collection tests: a Xero-connected firm whose client saved a card."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from litestar import Litestar

from core.stripe_gateway import StripeGateway
from ledger.sandbox.seed import SeedData
from ledger.sandbox.xero_state import XeroInvoice
from ledger.tables import Client, Invoice
from portal.tables import ScheduledCollection
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth, json_of
from tests.integration.test_ledger_xero import connected_workspace
from tests.ledger_helpers import recent_invoices
from tests.stripe_harness import LocalStripe


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 20) -> None:
    """Wait for the in-process worker to get somewhere."""
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def save_card(gateway: StripeGateway, stripe_stand_in: LocalStripe, client: Client, number: str) -> str:
    """The client saves a card through the portal's SetupIntent flow; returns the payment method id."""
    customer = await gateway.ensure_customer(
        existing_id=client.stripe_customer_id, name=client.name, email=client.email, metadata={}
    )
    setup = await gateway.create_setup_intent(customer, metadata={})
    await stripe_stand_in.confirm_card_setup(setup.client_secret, number)
    method = await gateway.payment_method_from_setup(setup.id, customer_id=customer)
    await gateway.attach_payment_method(method, customer)
    await Client.update({Client.stripe_customer_id: customer, Client.has_saved_card: True}).where(
        Client.id == client.id
    )
    client.stripe_customer_id = customer
    return method


class Firm:
    """A workspace connected to a Xero sandbox organisation with one invoice owed by a client with a card."""

    def __init__(self, token: str, invoice: Invoice, client: Client, ledger_invoice: XeroInvoice) -> None:
        self.token = token
        self.invoice = invoice
        self.client = client
        self.ledger_invoice = ledger_invoice

    async def schedule(self, http: httpx.AsyncClient, **body: Any) -> httpx.Response:
        return await http.post(f"/api/v1/invoices/{self.invoice.id}/schedule", json=body, headers=auth(self.token))

    async def detail(self, http: httpx.AsyncClient) -> dict[str, Any]:
        return json_of((await http.get(f"/api/v1/invoices/{self.invoice.id}", headers=auth(self.token))).content)

    async def collection(self) -> ScheduledCollection:
        row = (
            await ScheduledCollection.objects()
            .where(ScheduledCollection.invoice == self.invoice.id)
            .order_by(ScheduledCollection.created_at, ascending=False)
            .first()
        )
        assert row is not None
        return row


async def firm_with_card_factory(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> Callable[[str], Awaitable[Firm]]:
    async def make(card: str) -> Firm:
        tenant = xero.sandbox.add_tenant(f"Collect {uuid.uuid4().hex[:6]}")
        seed = recent_invoices(1, xero.sandbox.clock.today(), seed=11)
        # A mailbox of its own, so no other test's late email lands in this one's.
        unique = SeedData(
            tuple(dataclasses.replace(c, email=f"ap-{uuid.uuid4().hex[:8]}@client.example") for c in seed.clients),
            seed.invoices,
        )
        [ledger_invoice] = xero.sandbox.load_seed(tenant.tenant_id, unique)
        token, connection = await connected_workspace(client, workspaces, xero, tenant)
        await client.patch(
            f"/api/v1/ledger-connections/{connection['id']}", json={"payment_account_code": "090"}, headers=auth(token)
        )
        invoice = await Invoice.objects().where(Invoice.external_id == ledger_invoice.invoice_id).first()
        assert invoice is not None
        customer = await Client.objects().where(Client.id == invoice.client).first()
        assert customer is not None
        await save_card(running_app.state.stripe, stripe_stand_in, customer, card)
        return Firm(token, invoice, customer, ledger_invoice)

    return make


def worker_ctx(app: Litestar) -> dict[str, Any]:
    state = app.state
    return {"settings": state.settings, "http": state.http, "ledger": state.ledger, "queue": state.queue}
