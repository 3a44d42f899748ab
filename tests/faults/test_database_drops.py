"""PostgreSQL dropping the app's connections (pg_terminate_backend) mid bulk send and mid collections.

The pool reconnects, the jobs that were cut off are retried, and nothing is lost or done twice: every
client gets one email, every collection is charged and recorded in the ledger once. PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from litestar import Litestar

import core.piccolo_conf
from core.settings import Settings
from jobs.collections import run_due_collections
from jobs.payments import requeue_write_backs
from jobs.requests import requeue_lost_deliveries
from portal.tables import ScheduledCollection
from tests.backends import database_kind
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.faults.firms import bulk_send, delivered, request_statuses, xero_firm
from tests.faults.harness import private_queue, private_settings, running_worker, until
from tests.faults.payments import charges_by, customers_of, firm_with_cards, ledger_payments, schedule_all, written_back
from tests.mailcatcher import MailServer
from tests.stripe_harness import LocalStripe

pytestmark = pytest.mark.skipif(database_kind() != "postgresql", reason="drops PostgreSQL backends")

DROPS = 8
"""Times every connection of the app is terminated, 0.4 s apart."""


async def drop_connections(database_url: str) -> int:
    """Terminate every backend of the test database but this one: what a failover or restart does."""
    admin = await asyncpg.connect(database_url)
    try:
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            urlsplit(database_url).path.lstrip("/"),
        )
    finally:
        await admin.close()
    return len(rows)


def surviving(check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    """The test's own checks share the app's pool: a query cut off by a drop just asks again."""

    async def checked() -> bool:
        try:
            return await check()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            return False

    return checked


@pytest.mark.timeout(120)
async def test_connections_dropped_mid_send_and_mid_collection_lose_and_repeat_nothing(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    settings: Settings,
    embedded_socket: str | None,
    running_app: Litestar,
) -> None:
    mail = MailServer()
    mail.catcher.delay = 0.05
    mail.start()
    sender = await xero_firm(client, workspaces, xero, invoices=30, clients=30)
    addresses = await sender.emails()
    collector, cards = await firm_with_cards(client, workspaces, xero, stripe_stand_in, running_app, invoices=4)
    collect_on = await schedule_all(collector, cards)
    on_the_day = dt.datetime.combine(collect_on, dt.time(9), tzinfo=dt.UTC).isoformat()
    config = private_settings(settings, smtp_url=mail.url, mail_retry_seconds=0.1)
    try:
        async with private_queue(config, embedded_socket) as queue, running_worker(queue, config) as ctx:
            sent = await bulk_send(sender, queue)
            await run_due_collections(ctx, now=on_the_day)
            dropped = 0
            for _ in range(DROPS):
                dropped += await drop_connections(settings.database_url)
                await asyncio.sleep(0.4)

            @surviving
            async def done() -> bool:
                await requeue_lost_deliveries(ctx, older_than_seconds=30)  # the crons' ticks
                await run_due_collections(ctx, now=on_the_day)
                await requeue_write_backs(ctx)
                return (await request_statuses(sent))["sent"] == len(sent.requests) and await written_back(
                    collector
                ) == len(collector.invoices)

            try:
                await until(done, seconds=60, every=0.5)
            except AssertionError:
                raise AssertionError(
                    f"{await request_statuses(sent)} written back {await written_back(collector)}"
                ) from None
    finally:
        mail.stop()
    assert dropped > DROPS  # the app's connections really were cut, several at a time
    assert delivered(mail.catcher, addresses) == dict.fromkeys(addresses, 1)
    statuses = await ScheduledCollection.select(ScheduledCollection.status).where(
        ScheduledCollection.invoice.is_in([inv.id for inv in collector.invoices])
    )
    assert {row["status"] for row in statuses} == {"succeeded"}
    charged = await charges_by(stripe_stand_in, await customers_of(collector.invoices), "collection_id")
    assert sorted(charged.values()) == [1] * len(collector.invoices)
    assert set(ledger_payments(xero, collector).values()) == {1}

    async def pool_whole() -> bool:  # every connection given back (a leaked one hangs the pool's close)
        pool = core.piccolo_conf.DB.pool
        return bool(pool.get_idle_size() == pool.get_size())

    await until(pool_whole, seconds=10)
