"""200 due collections, the worker SIGKILLed three times at random moments: every invoice charged and recorded once."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from saq.queue import Queue

from core.clock import utcnow
from core.db import insert_all
from core.queue import make_queue
from core.settings import Settings
from jobs.collections import run_due_collections
from jobs.payments import requeue_write_backs
from ledger.sandbox.seed import SeedData
from ledger.tables import Client, Invoice
from portal.tables import PaymentAllocation, ScheduledCollection
from tests.collection_helpers import save_card
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth
from tests.integration.test_ledger_xero import connected_workspace
from tests.ledger_helpers import recent_invoices
from tests.stripe_harness import LocalStripe

ROOT = Path(__file__).resolve().parents[2]
COLLECTIONS = 200
KILLS = 3


@pytest.fixture
async def crash_queue(settings: Settings, embedded_socket: str | None) -> AsyncIterator[Queue]:
    """A queue only the test's worker processes work (the app's own worker never sees these jobs)."""
    queue = make_queue(
        msgspec.structs.replace(settings, queue_name=f"crash-{uuid.uuid4().hex[:8]}"), embedded_socket=embedded_socket
    )
    await queue.connect()
    yield queue
    await queue.disconnect()


def start_worker(settings: Settings, socket: str | None) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TEST_SETTINGS_JSON": msgspec.json.encode(settings).decode(),
        "TEST_EMBEDDED_SOCKET": socket or "",
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.collection_worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.timeout(360)
async def test_sigkilled_workers_charge_and_record_every_collection_exactly_once(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
    settings: Settings,
    embedded_socket: str | None,
    crash_queue: Queue,
) -> None:
    tenant = xero.sandbox.add_tenant(f"Crash {uuid.uuid4().hex[:6]}")
    seed = recent_invoices(COLLECTIONS, xero.sandbox.clock.today(), seed=23)
    clients = tuple(dataclasses.replace(c, email=f"crash-{uuid.uuid4().hex[:8]}@client.example") for c in seed.clients)
    ledger_invoices = xero.sandbox.load_seed(tenant.tenant_id, SeedData(clients, seed.invoices))
    token, connection = await connected_workspace(client, workspaces, xero, tenant)
    await client.patch(
        f"/api/v1/ledger-connections/{connection['id']}", json={"payment_account_code": "090"}, headers=auth(token)
    )
    invoices = await Invoice.objects().where(Invoice.connection == uuid.UUID(connection["id"]))
    assert len(invoices) == COLLECTIONS
    cards: dict[uuid.UUID, str] = {}
    for customer in await Client.objects().where(Client.id.is_in(list({inv.client for inv in invoices}))):
        cards[customer.id] = await save_card(running_app.state.stripe, stripe_stand_in, customer, "4242424242424242")
    collect_on = utcnow().date() + dt.timedelta(days=20)  # Not due for the app's own cron.
    await insert_all(
        ScheduledCollection,
        [
            ScheduledCollection(
                workspace=inv.workspace, invoice=inv.id, payment_method_id=cards[inv.client], collect_on=collect_on
            )
            for inv in invoices
        ],
    )
    worker_settings = msgspec.structs.replace(running_app.state.settings, queue_name=crash_queue.name)
    cron = {"queue": crash_queue}
    on_the_day = dt.datetime.combine(collect_on, dt.time(9), tzinfo=dt.UTC).isoformat()
    assert (await run_due_collections(cron, now=on_the_day))["claimed"] == COLLECTIONS

    seed_value = random.randrange(1_000_000)
    chance = random.Random(seed_value)
    for _ in range(KILLS):
        doomed = start_worker(worker_settings, embedded_socket)
        await asyncio.sleep(chance.uniform(2.0, 5.0))  # start-up takes about 1.5 s; then it is mid-work
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        await run_due_collections(cron, now=on_the_day)  # the minute's cron tick

    survivor = start_worker(worker_settings, embedded_socket)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            done = await ScheduledCollection.count().where(
                ScheduledCollection.invoice.is_in([inv.id for inv in invoices])
                & (ScheduledCollection.status == "succeeded")
            )
            written = await PaymentAllocation.count().where(
                PaymentAllocation.invoice.is_in([inv.id for inv in invoices])
                & PaymentAllocation.written_back_at.is_not_null()
            )
            if done == COLLECTIONS and written == COLLECTIONS:
                break
            await run_due_collections(cron, now=on_the_day)  # the minute's cron ticks
            await requeue_write_backs(cron)
            await asyncio.sleep(2)
    finally:
        survivor.send_signal(signal.SIGTERM)
        survivor.wait(timeout=20)
    assert (done, written) == (COLLECTIONS, COLLECTIONS), f"random seed {seed_value}"

    charged: Counter[str] = Counter()  # succeeded charges per collection
    async with httpx.AsyncClient(base_url=stripe_stand_in.base_url, auth=(stripe_stand_in.secret_key, "")) as http:
        for customer in await Client.objects().where(Client.id.is_in(list(cards))):
            params = {"customer": customer.stripe_customer_id, "limit": 500}
            page = (await http.get("/v1/charges", params=params)).json()
            for charge in page["data"]:
                if charge["status"] == "succeeded":
                    intent = (await http.get(f"/v1/payment_intents/{charge['payment_intent']}")).json()
                    charged[intent["metadata"]["collection_id"]] += 1
    twice = {collection: count for collection, count in charged.items() if count > 1}
    assert (len(charged), twice) == (COLLECTIONS, {}), f"random seed {seed_value}"
    recorded = [
        [p for p in xero.sandbox.payments_for(inv.invoice_id) if p.status != "DELETED"] for inv in ledger_invoices
    ]
    assert [len(payments) for payments in recorded] == [1] * COLLECTIONS, f"random seed {seed_value}"
