"""Xero answering 429 (with Retry-After) and 503 storms during a sync and during write-back: both finish after.

The storms are the sandbox's own fault knobs (`FaultInjector`): real status codes, Xero's problem bodies and
its Retry-After header, for every API call while they last.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from litestar import Litestar

from core.settings import Settings
from jobs.payments import requeue_write_backs
from ledger.tables import Invoice, LedgerConnection
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.faults.firms import xero_firm
from tests.faults.harness import private_queue, private_settings, running_worker, until
from tests.faults.payments import firm_with_cards, ledger_payments, pay_invoice, until_written_back
from tests.helpers import auth
from tests.stripe_harness import LocalStripe

STORM_SECONDS = 2.0
PAYMENTS = "/api.xro/2.0/Payments"


async def storms(xero: XeroStandIn, *, path_prefix: str | None = None) -> None:
    """A 429 storm telling us to retry after a second, then a 503 storm, then calm."""
    xero.sandbox.faults.start_storm(429, retry_after=1, path_prefix=path_prefix)
    await asyncio.sleep(STORM_SECONDS)
    xero.sandbox.faults.start_storm(503, path_prefix=path_prefix)
    await asyncio.sleep(STORM_SECONDS)
    xero.sandbox.faults.stop_storm()


@pytest.mark.timeout(120)
async def test_a_sync_through_429_and_503_storms_brings_in_every_change(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, running_app: Litestar
) -> None:
    firm = await xero_firm(client, workspaces, xero, invoices=8, clients=3)
    paid_in_xero = firm.invoices[:5]
    for invoice in paid_in_xero:  # the bookkeeper records payments in Xero itself
        xero.sandbox.mark_paid(invoice.external_id)
    calls_before = len(xero.sandbox.log)
    try:
        xero.sandbox.faults.start_storm(429, retry_after=1)
        started = await client.post(f"/api/v1/ledger-connections/{firm.connection_id}/sync", headers=auth(firm.token))
        assert started.status_code == 202
        await storms(xero)
    finally:
        xero.sandbox.faults.stop_storm()

    async def synced() -> bool:
        rows = await Invoice.select(Invoice.status).where(Invoice.id.is_in([inv.id for inv in paid_in_xero]))
        return {row["status"] for row in rows} == {"paid"}

    await until(synced, seconds=60, every=0.25)
    assert await Invoice.count().where(Invoice.workspace == firm.workspace_id) == len(firm.invoices)
    connection = await LedgerConnection.objects().where(LedgerConnection.id == uuid.UUID(firm.connection_id)).first()
    assert connection is not None
    assert connection.status == "active"
    assert len(xero.sandbox.log) - calls_before > 3  # the storms were met, and retried through


@pytest.mark.timeout(120)
async def test_write_backs_through_429_and_503_storms_record_each_payment_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
) -> None:
    firm, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=3)
    for invoice in firm.invoices:
        assert (await pay_invoice(running_app.state.stripe, invoice, cards)).status == "succeeded"
    config = private_settings(settings)
    try:
        xero.sandbox.faults.start_storm(429, retry_after=1, path_prefix=PAYMENTS)
        async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
            await requeue_write_backs(ctx)  # the minute's cron finds the three payments
            await storms(xero, path_prefix=PAYMENTS)

            await until_written_back(ctx, firm, len(firm.invoices), seconds=60)
    finally:
        xero.sandbox.faults.stop_storm()
    assert set(ledger_payments(xero, firm).values()) == {1}
    assert xero.sandbox.log.count("PUT", prefix=PAYMENTS) > len(firm.invoices)  # refused ones were sent again


@pytest.mark.timeout(120)
async def test_a_write_back_whose_answer_xero_lost_is_recorded_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
) -> None:
    firm, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=2)
    for invoice in firm.invoices:
        assert (await pay_invoice(running_app.state.stripe, invoice, cards)).status == "succeeded"
    # Xero records the first payment it is sent, but its answer never arrives: we see a gateway time-out.
    xero.sandbox.faults.lose_next_answers(1, path_prefix=PAYMENTS)
    sent_before = xero.sandbox.log.count("PUT", prefix=PAYMENTS)
    config = private_settings(settings)
    try:
        async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
            await until_written_back(ctx, firm, len(firm.invoices), seconds=60)
    finally:
        xero.sandbox.faults.clear()
    # Sent again with the same Idempotency-Key, Xero answered with the payment it had already made.
    assert set(ledger_payments(xero, firm).values()) == {1}
    assert xero.sandbox.log.count("PUT", prefix=PAYMENTS) - sent_before == len(firm.invoices) + 1
