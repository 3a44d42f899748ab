"""The mail server down during a bulk send: retries outlast the outage, and every client gets one email.

"Five minutes" is compressed a hundredfold: the first retry comes after `mail_retry_seconds` (30 s in
production, 0.3 s here) and doubles from there, so a 3 s outage here is a 5-minute outage there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from core.settings import Settings
from core.tables import Activity
from jobs.requests import requeue_lost_deliveries
from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.faults.firms import bulk_send, delivered, request_statuses, xero_firm
from tests.faults.harness import private_queue, private_settings, running_worker, until
from tests.mailcatcher import MailServer

SCALE = 100
"""Production time / test time."""
OUTAGE_SECONDS = 5 * 60 / SCALE


@pytest.fixture
def down_mail() -> Iterator[MailServer]:
    """A mail server of the test's own, not listening until the test starts it."""
    server = MailServer()
    yield server
    server.stop()


@pytest.mark.timeout(120)
async def test_retries_outlast_a_five_minute_outage_and_every_client_gets_one_email(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    settings: Settings,
    embedded_socket: str | None,
    running_app: Litestar,
    down_mail: MailServer,
) -> None:
    firm = await xero_firm(client, workspaces, xero, invoices=24, clients=12)
    addresses = await firm.emails()
    config = private_settings(settings, smtp_url=down_mail.url, mail_retry_seconds=30 / SCALE)
    async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
        sent = await bulk_send(firm, queue)
        await asyncio.sleep(OUTAGE_SECONDS)
        during = await request_statuses(sent)
        # The lost-delivery sweep runs meanwhile: whatever it re-queues must not make a second email.
        await requeue_lost_deliveries(ctx, older_than_seconds=0)
        down_mail.start()

        async def all_sent() -> bool:
            return (await request_statuses(sent))["sent"] == len(sent.requests)

        await until(all_sent, seconds=60)
    assert during["queued"] == len(sent.requests), during  # waiting to retry: none failed, none sent
    await asyncio.sleep(0.5)  # a second copy would arrive about now
    assert delivered(down_mail.catcher, addresses) == dict.fromkeys(addresses, 1)
    assert len(down_mail.catcher.messages) == len(addresses)  # nothing else: no staff alert either


@pytest.mark.timeout(120)
async def test_an_outage_past_the_retry_budget_fails_the_requests_and_alerts_staff_once_mail_is_back(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    settings: Settings,
    embedded_socket: str | None,
    running_app: Litestar,
    down_mail: MailServer,
) -> None:
    firm = await xero_firm(client, workspaces, xero, invoices=6, clients=3)
    addresses = await firm.emails()
    config = private_settings(settings, smtp_url=down_mail.url, mail_retry_seconds=0.01)
    async with private_queue(config, embedded_socket) as queue, running_worker(queue, config):
        sent = await bulk_send(firm, queue)

        async def all_failed() -> bool:
            return (await request_statuses(sent))["failed"] == len(sent.requests)

        await until(all_failed, seconds=60)
        down_mail.start()
        admin = workspaces.last_email
        await until(lambda: _received(down_mail, admin, len(sent.requests)), seconds=30)
    assert delivered(down_mail.catcher, addresses) == dict.fromkeys(addresses, 0)
    rows = await PaymentRequest.select(PaymentRequest.last_error).where(PaymentRequest.batch_id == sent.batch_id)
    assert all("mail server did not accept" in row["last_error"] for row in rows)
    failures = await Activity.count().where(
        (Activity.workspace == firm.workspace_id) & (Activity.kind == "delivery_failed")
    )
    assert failures == len(sent.requests)
    alerts = down_mail.catcher.to(admin)
    assert len(alerts) == len(sent.requests)
    assert all("could not be emailed" in alert["Subject"] for alert in alerts)


async def _received(server: MailServer, address: str, count: int) -> bool:
    return len(server.catcher.to(address)) >= count
