"""Stripe answering 500 and timing out, in front of the stand-in: no charge twice, each payment recorded once."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest
from litestar import Litestar

from core.clock import utcnow
from core.errors import Conflict
from core.settings import Settings
from core.stripe_gateway import StripeGateway
from jobs.collections import run_due_collections
from jobs.payments import confirm_unanswered_payments
from ledger.tables import Invoice
from portal.payments import UNANSWERED, UNCONFIRMED
from portal.tables import Payment, ScheduledCollection
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.faults.harness import private_queue, private_settings, running_worker, until
from tests.faults.payments import (
    charges_by,
    customers_of,
    firm_with_cards,
    ledger_payments,
    pay_invoice,
    schedule_all,
    until_written_back,
)
from tests.faults.stripe_proxy import StripeFault, StripeFaultProxy, stripe_fault_proxy
from tests.mailcatcher import Catcher
from tests.stripe_harness import LocalStripe

CLIENT_TIMEOUT = 1.0
"""Our Stripe client's time-out in these tests (30 s in production); a hang lasts longer."""


@pytest.fixture
def proxy(stripe_stand_in: LocalStripe) -> Iterator[tuple[str, StripeFaultProxy]]:
    """The fault proxy in front of the session's localstripe."""
    with stripe_fault_proxy(stripe_stand_in.base_url) as served:
        yield served


@pytest.fixture
async def proxied_stripe(settings: Settings, proxy: tuple[str, StripeFaultProxy]) -> AsyncIterator[StripeGateway]:
    """Our Stripe gateway talking to the proxy, with a short time-out."""
    gateway = StripeGateway(msgspec.structs.replace(settings, stripe_api_base=proxy[0]), timeout_seconds=CLIENT_TIMEOUT)
    yield gateway
    await gateway.aclose()


@pytest.mark.timeout(120)
async def test_collections_through_stripe_errors_and_timeouts_charge_and_record_each_invoice_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
    proxy: tuple[str, StripeFaultProxy],
    proxied_stripe: StripeGateway,
    mail: Catcher,
) -> None:
    firm, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=4)
    collect_on = await schedule_all(firm, cards)
    _, faults = proxy
    down = StripeFault("error")  # Stripe answers every call with 500
    faults.inject(down)
    # Then, once it is back, two charges are made but their answers lost: a 500, and a hang past our time-out.
    faults.inject(StripeFault("error", method="POST", path_prefix="/v1/payment_intents", forwarded=True, remaining=1))
    faults.inject(
        StripeFault("hang", method="POST", path_prefix="/v1/payment_intents", forwarded=True, seconds=3, remaining=1)
    )
    config = private_settings(settings)
    on_the_day = dt.datetime.combine(collect_on, dt.time(9), tzinfo=dt.UTC).isoformat()
    async with (
        private_queue(config, embedded_socket) as queue,
        running_worker(queue, config, stripe=proxied_stripe) as ctx,
    ):
        assert (await run_due_collections(ctx, now=on_the_day))["claimed"] == len(firm.invoices)
        await until(lambda: _served(faults, "error", 4), seconds=20)  # the first attempts hit the outage
        faults.remove(down)

        await until_written_back(ctx, firm, len(firm.invoices))
    statuses = await ScheduledCollection.select(ScheduledCollection.status).where(
        ScheduledCollection.invoice.is_in([inv.id for inv in firm.invoices])
    )
    assert [row["status"] for row in statuses] == ["succeeded"] * len(firm.invoices)
    assert faults.count("hang") == 1
    assert faults.count("error", "POST", "/v1/payment_intents") >= 1
    charged = await charges_by(stripe_stand_in, await customers_of(firm.invoices), "collection_id")
    assert sorted(charged.values()) == [1] * len(firm.invoices)
    assert set(ledger_payments(xero, firm).values()) == {1}
    paid = await Invoice.select(Invoice.status).where(Invoice.id.is_in([inv.id for inv in firm.invoices]))
    assert {row["status"] for row in paid} == {"paid"}


async def _served(faults: StripeFaultProxy, what: str, count: int) -> bool:
    return faults.count(what) >= count


@pytest.mark.timeout(120)
async def test_a_portal_payment_whose_answer_stripe_lost_is_paid_once_and_one_stripe_never_got_can_be_retried(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
    proxy: tuple[str, StripeFaultProxy],
    proxied_stripe: StripeGateway,
) -> None:
    firm, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=2)
    _, faults = proxy
    lost, refused = firm.invoices
    intents = "/v1/payment_intents"

    # The charge is made but the answer times out: the page is told it is paid, and it is charged once.
    faults.inject(StripeFault("hang", method="POST", path_prefix=intents, forwarded=True, seconds=3, remaining=1))
    first = await pay_invoice(proxied_stripe, lost, cards)
    assert first.status == "succeeded"

    # Stripe never gets the charge (500 before it). A 500 may also come after a charge, so the page is told
    # the payment is being checked and the invoice stays claimed. Asked again two minutes on, Stripe has no
    # charge: the attempt fails, the invoice is payable again, and a retry pays it.
    faults.inject(StripeFault("error", method="POST", path_prefix=intents, remaining=1))
    unsure = await pay_invoice(proxied_stripe, refused, cards)
    assert (unsure.status, unsure.message) == ("processing", UNCONFIRMED)
    with pytest.raises(Conflict):
        await pay_invoice(proxied_stripe, refused, cards)
    assert await confirm_unanswered_payments({"stripe": proxied_stripe}, now=_minutes_on(3)) == {"settled": 1}
    failed = await Payment.objects().where(Payment.id == uuid.UUID(unsure.payment_id)).first()
    assert failed is not None
    assert (failed.status, failed.failure_message) == ("failed", UNANSWERED)
    again = await pay_invoice(proxied_stripe, refused, cards)
    assert again.status == "succeeded"

    config = private_settings(settings)
    async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
        await until_written_back(ctx, firm, 2, seconds=30)
    charged = await charges_by(stripe_stand_in, await customers_of(firm.invoices), "invoice_ids")
    assert charged == {str(lost.id): 1, str(refused.id): 1}
    assert set(ledger_payments(xero, firm).values()) == {1}


@pytest.mark.timeout(120)
async def test_a_charge_stripe_makes_after_we_gave_up_on_it_is_recorded_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
    proxy: tuple[str, StripeFaultProxy],
    proxied_stripe: StripeGateway,
) -> None:
    firm, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=1)
    _, faults = proxy
    [invoice] = firm.invoices

    # The charge request reaches Stripe only after our client timed out and found no charge.
    faults.inject(StripeFault("late", method="POST", path_prefix="/v1/payment_intents", seconds=2.5, remaining=1))
    unsure = await pay_invoice(proxied_stripe, invoice, cards)
    assert (unsure.status, unsure.message) == ("processing", UNCONFIRMED)
    customers = await customers_of(firm.invoices)

    async def charged() -> bool:
        return sum((await charges_by(stripe_stand_in, customers, "invoice_ids")).values()) == 1

    await until(charged, seconds=20, every=0.25)
    with pytest.raises(Conflict):  # never payable twice while unconfirmed
        await pay_invoice(proxied_stripe, invoice, cards)

    # Two minutes on, Stripe is asked again: the charge it made is the invoice's payment.
    assert await confirm_unanswered_payments({"stripe": proxied_stripe}, now=_minutes_on(3)) == {"settled": 1}
    paid = await Payment.objects().where(Payment.id == uuid.UUID(unsure.payment_id)).first()
    assert paid is not None
    assert paid.status == "succeeded"
    refreshed = await Invoice.objects().where(Invoice.id == invoice.id).first()
    assert refreshed is not None
    assert (refreshed.status, refreshed.amount_due_minor) == ("paid", 0)

    config = private_settings(settings)
    async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
        await until_written_back(ctx, firm, 1, seconds=30)
    assert await charges_by(stripe_stand_in, customers, "invoice_ids") == {str(invoice.id): 1}
    assert set(ledger_payments(xero, firm).values()) == {1}


def _minutes_on(minutes: int) -> str:
    return (utcnow() + dt.timedelta(minutes=minutes)).isoformat()
