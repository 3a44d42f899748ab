"""Checks of money for the fault tests: charges in the Stripe stand-in, payments in the Xero sandbox."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import httpx

from core.clock import utcnow
from core.db import insert_all
from ledger.tables import Client, Invoice
from portal.tables import PaymentAllocation, ScheduledCollection
from tests.conftest import XeroStandIn
from tests.faults.firms import XeroFirm
from tests.stripe_harness import LocalStripe


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
