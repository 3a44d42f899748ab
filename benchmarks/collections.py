"""Scheduled collections against a bare PaymentIntent loop: `python -m benchmarks.collections [--collections N]`.

localstripe runs as its own process on a loopback port, so neither side shares its interpreter. C clients
each save a card (4242…) through the SetupIntent flow, and N invoices dealt to them get a collection due
today (all untimed). Then:

- ours: the product's job worker (`jobs.worker.build_worker`, concurrency 8, in this process); a round of
  collections is claimed and queued as the every-minute cron does, timed until every one is `succeeded`. Each collection
  takes its lease, claims its invoice, records its payment, charges off-session, settles, and queues the
  receipt (receipts go to an SMTP server that only counts them; invoices have no ledger, so there is no
  ledger check or write-back in this figure).
- bare (the baseline): the same number of `POST /v1/payment_intents` (confirm, off_session, the same
  customer, card and amount), 8 at a time with one httpx client, timed to the last answer.

localstripe's PaymentIntents get slower as its store grows, so the sides take turns in rounds (`--round`).

The ratio ours/bare is throughput (collections per second over PaymentIntents per second): 1.0 would mean
our bookkeeping costs nothing next to Stripe's own call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import structlog
from aiosmtpd.controller import Controller

from benchmarks._common import Databases, free_port, seconds
from core.clock import utcnow
from core.db import bind_engine, connected, engine_for_url, insert_all
from core.queue import EmbeddedRedis, make_queue
from core.settings import Settings
from core.stripe_gateway import StripeGateway
from core.tables import Workspace
from jobs.collections import run_due_collections
from jobs.worker import build_worker
from ledger.tables import Client, Invoice
from portal.collections import claim_collections
from portal.tables import ScheduledCollection

SECRET_KEY = "sk_test_benchmark"  # noqa: S105 - localstripe takes any sk_ key
CONCURRENCY = 8


class _CountingHandler:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.count += 1
        return "250 OK"


@contextlib.contextmanager
def localstripe_process() -> Any:
    """localstripe (as `core.stripe_standin` serves it: in memory) in a process of its own; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "core.stripe_standin", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{base}/v1/customers", auth=(SECRET_KEY, ""), timeout=1)
                break
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


async def save_cards(gateway: StripeGateway, base: str, clients: int) -> list[tuple[str, str]]:
    """(customer, payment method) pairs, each card saved as the portal saves it."""
    saved = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for index in range(clients):
            customer = await gateway.ensure_customer(existing_id=None, name=f"Client {index}", email=None, metadata={})
            setup = await gateway.create_setup_intent(customer, metadata={})
            card = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2034", "cvc": "123"}
            confirmed = await http.post(
                f"/v1/setup_intents/{setup.id}/confirm",
                data={
                    "key": "pk_test_benchmark",
                    "client_secret": setup.client_secret,
                    "payment_method_data[type]": "card",
                    **{f"payment_method_data[card][{key}]": value for key, value in card.items()},
                },
            )
            confirmed.raise_for_status()
            method = await gateway.payment_method_from_setup(setup.id, customer_id=customer)
            await gateway.attach_payment_method(method, customer)
            saved.append((customer, method))
    return saved


async def seed(workspace_id: uuid.UUID, cards: list[tuple[str, str]], collections: int) -> None:
    """Clients with those cards, one invoice per collection, every collection due today."""
    clients = [
        Client(
            workspace=workspace_id,
            source="xero",
            external_id=str(uuid.uuid4()),
            name=f"Client {index}",
            email=f"client{index}@bench.example",
            stripe_customer_id=customer,
            has_saved_card=True,
        )
        for index, (customer, _) in enumerate(cards)
    ]
    await insert_all(Client, clients)
    invoices = []
    for index in range(collections):
        client = clients[index % len(clients)]
        invoices.append(
            Invoice(
                workspace=workspace_id,
                client=client.id,
                source="xero",
                external_id=str(uuid.uuid4()),
                number=f"INV-{index:06d}",
                currency="USD",
                total_minor=10_000 + index,
                amount_due_minor=10_000 + index,
                issue_date=utcnow().date() - dt.timedelta(days=30),
                due_date=utcnow().date(),
                status="outstanding",
                ledger_status="AUTHORISED",
            )
        )
    await insert_all(Invoice, invoices)
    method_of = {client.id: method for client, (_, method) in zip(clients, cards, strict=True)}
    await insert_all(
        ScheduledCollection,
        [
            ScheduledCollection(
                workspace=workspace_id,
                invoice=invoice.id,
                payment_method_id=method_of[invoice.client],
                collect_on=utcnow().date(),
            )
            for invoice in invoices
        ],
    )


@contextlib.asynccontextmanager
async def product_worker(settings: Settings, socket: str) -> AsyncIterator[Any]:
    """The product's job worker running in this process; yields its queue."""
    queue = make_queue(settings, embedded_socket=socket)
    await queue.connect()
    async with httpx.AsyncClient(timeout=30) as http:
        worker = build_worker(
            queue,
            context={"settings": settings, "http": http},
            cron_jobs=[],
            concurrency=CONCURRENCY,
            handle_signals=False,
        )
        task = asyncio.create_task(worker.start())
        await asyncio.sleep(0.5)
        try:
            yield queue
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await queue.disconnect()


async def run_ours(queue: Any, ids: list[uuid.UUID], done_before: int) -> float:
    """Claim these collections as the cron does, and time them until all have succeeded."""
    started = time.perf_counter()
    await claim_collections(ids)
    await run_due_collections({"queue": queue})  # queues a job per claimed collection
    target = done_before + len(ids)
    while await ScheduledCollection.count().where(ScheduledCollection.status == "succeeded") < target:  # noqa: ASYNC110 - polls the database
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def run_bare(base: str, cards: list[tuple[str, str]], first: int, count: int) -> float:
    semaphore = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, auth=(SECRET_KEY, ""), timeout=30) as http:

        async def one(index: int) -> None:
            customer, method = cards[index % len(cards)]
            async with semaphore:
                response = await http.post(
                    "/v1/payment_intents",
                    data={
                        "amount": str(10_000 + index),
                        "currency": "usd",
                        "customer": customer,
                        "payment_method": method,
                        "confirm": "true",
                        "off_session": "true",
                        "payment_method_types[]": "card",
                        "metadata[collection_id]": str(index),
                    },
                    headers={"Idempotency-Key": f"bare-{index}-{uuid.uuid4()}"},
                )
                response.raise_for_status()
                assert response.json()["status"] == "succeeded"

        started = time.perf_counter()
        await asyncio.gather(*(one(index) for index in range(first, first + count)))
        return time.perf_counter() - started


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.INFO)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    handler = _CountingHandler()
    smtp = Controller(handler, hostname="127.0.0.1", port=free_port())
    smtp.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-collections-"))
    kind = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"collections benchmark: {args.collections:,} due collections of {args.clients:,} clients, {kind}, "
        f"embedded queue, worker concurrency {CONCURRENCY}"
    )
    embedded = EmbeddedRedis(tmp / "queue.rdb")
    socket = embedded.start()
    try:
        with localstripe_process() as base:
            async with Databases.migrated(args.database_url, tmp) as databases, databases.copy() as url:
                settings = Settings(
                    database_url=url,
                    queue_name=f"bench-{uuid.uuid4().hex[:6]}",
                    secret_key="bench-secret-key-bench-secret-key",  # noqa: S106 - a throw-away benchmark key
                    stripe_secret_key=SECRET_KEY,
                    stripe_api_base=base,
                    smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                    mail_from="billing@bench.example",
                )
                engine = engine_for_url(url)
                bind_engine(engine)
                async with connected(engine):
                    gateway = StripeGateway(settings)
                    started = time.perf_counter()
                    cards = await save_cards(gateway, base, args.clients)
                    workspace = Workspace(name="Bench Firm")
                    await workspace.save()
                    await seed(workspace.id, cards, args.collections)
                    print(
                        f"  set up {args.clients:,} saved cards and {args.collections:,} collections in "
                        f"{seconds(time.perf_counter() - started)}"
                    )
                    # localstripe gets slower as its store grows (each PaymentIntent costs more than the last),
                    # so the two sides take turns, a round at a time, to see the same store sizes.
                    ids = [row["id"] for row in await ScheduledCollection.select(ScheduledCollection.id)]
                    ours = bare = 0.0
                    async with product_worker(settings, socket) as queue:
                        for first in range(0, len(ids), args.round):
                            chunk = ids[first : first + args.round]
                            bare += await run_bare(base, cards, first, len(chunk))
                            ours += await run_ours(queue, chunk, first)
                            print(
                                f"  after {first + len(chunk):,}: ours {seconds(ours)} "
                                f"({(first + len(chunk)) / ours:,.1f}/s), bare {seconds(bare)} "
                                f"({(first + len(chunk)) / bare:,.1f}/s)",
                                flush=True,
                            )
                    charged = await ScheduledCollection.count().where(ScheduledCollection.status == "succeeded")
                    print(f"  ours: {charged:,} collections succeeded; {handler.count:,} receipts sent")
                    await gateway.aclose()
        print("result:")
        print(f"  ours/bare throughput          {bare / ours:.2f}")
    finally:
        embedded.stop()
        smtp.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--collections", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--round", type=int, default=1000, help="collections per turn of each side")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (the script makes its own database)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
