"""Checks of money for the fault tests: charges in the Stripe stand-in, payments in the Xero sandbox."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import httpx
from litestar import Litestar

from core.clock import utcnow
from core.db import insert_all
from core.security import token_digest
from core.stripe_gateway import StripeGateway
from jobs.payments import requeue_write_backs
from ledger.tables import Client, Invoice
from portal.payments import PaymentStarted, start_payment
from portal.schemas import ClientSession
from portal.tables import PaymentAllocation, PaymentRequest, ScheduledCollection
from tests.collection_helpers import save_card
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.factories import make_request
from tests.faults.firms import XeroFirm, xero_firm
from tests.faults.harness import until
from tests.stripe_harness import LocalStripe

CARD = "4242424242424242"


async def charges_by(stripe: LocalStripe, customers: list[str], metadata_key: str) -> Counter[str]:
    """Succeeded charges per value of an intent's metadata key (`collection_id`, `payment_id`…)."""
    counted: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=stripe.base_url, auth=(stripe.secret_key, "")) as http:
        for customer in customers:
            page = (await http.get("/v1/charges", params={"customer": customer, "limit": 100})).json()
            for charge in page["data"]:
                if charge["status"] == "succeeded":
                    intent = (await http.get(f"/v1/payment_intents/{charge['payment_intent']}")).json()
                    counted[intent["metadata"][metadata_key]] += 1
    return counted


async def customers_of(invoices: list[Invoice]) -> list[str]:
    """The Stripe customers of the invoices' clients."""
    rows = await Client.select(Client.stripe_customer_id).where(Client.id.is_in([inv.client for inv in invoices]))
    return [row["stripe_customer_id"] for row in rows if row["stripe_customer_id"]]


def ledger_payments(xero: XeroStandIn, firm: XeroFirm) -> Counter[str]:
    """Live payments recorded in Xero per invoice of the firm."""
    return Counter(
        {
            invoice.external_id: sum(1 for p in xero.sandbox.payments_for(invoice.external_id) if p.status != "DELETED")
            for invoice in firm.invoices
        }
    )


async def written_back(firm: XeroFirm) -> int:
    """The firm's payment allocations our side has recorded as written to the ledger."""
    return await PaymentAllocation.count().where(
        PaymentAllocation.invoice.is_in([inv.id for inv in firm.invoices])
        & PaymentAllocation.written_back_at.is_not_null()
    )


async def schedule_all(firm: XeroFirm, cards: dict[str, str]) -> dt.date:
    """A collection of every invoice with its client's card, due on a date the app's own cron never reaches."""
    collect_on = utcnow().date() + dt.timedelta(days=20)
    await insert_all(
        ScheduledCollection,
        [
            ScheduledCollection(
                workspace=inv.workspace, invoice=inv.id, payment_method_id=cards[str(inv.client)], collect_on=collect_on
            )
            for inv in firm.invoices
        ],
    )
    return collect_on


async def firm_with_cards(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    app: Litestar,
    *,
    invoices: int,
) -> tuple[XeroFirm, dict[str, str]]:
    """A firm whose every client saved a card (through the stand-in directly: the faults come later)."""
    firm = await xero_firm(client, workspaces, xero, invoices=invoices, clients=invoices)
    cards: dict[str, str] = {}
    for customer in await Client.objects().where(Client.workspace == firm.workspace_id):
        cards[str(customer.id)] = await save_card(app.state.stripe, stripe_stand_in, customer, CARD)
    return firm, cards


async def pay_invoice(gateway: StripeGateway, invoice: Invoice, cards: dict[str, str]) -> PaymentStarted:
    """The client pays one invoice with their saved card, as the portal's payment route does."""
    client = await Client.objects().where(Client.id == invoice.client).first()
    assert client is not None
    token = await make_request(str(invoice.workspace), client, [invoice])
    request = await PaymentRequest.objects().where(PaymentRequest.token_hash == token_digest(token)).first()
    assert request is not None
    session = ClientSession(request_id=str(request.id), client_id=str(client.id), workspace_id=str(invoice.workspace))
    return await start_payment(
        gateway,
        session,
        request_id=str(request.id),
        invoice_ids=[str(invoice.id)],
        payment_method_id=cards[str(client.id)],
        keep_card=True,
    )


async def until_written_back(ctx: dict[str, Any], firm: XeroFirm, count: int, *, seconds: float = 60) -> None:
    """Run the write-back sweep (the minute's cron) until `count` of the firm's allocations are in the ledger."""

    async def recorded() -> bool:
        await requeue_write_backs(ctx)
        return await written_back(firm) == count

    await until(recorded, seconds=seconds, every=0.5)
