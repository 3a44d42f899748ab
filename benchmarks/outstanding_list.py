"""The Outstanding list at scale: `python -m benchmarks.outstanding_list [--invoices N] [--database-url URL]`.

One workspace holds N invoices (most outstanding, some paid or voided, a tenth of the outstanding
ones already requested) of C clients, written straight into a fresh, migrated database. The app
runs as in `bulk_send.py` (built by `core.app.create_app`, lifespan held in this loop, called through
httpx's ASGI transport), with no job worker. Each case is requested `--repeat` times, the cases
taking turns, and the summary gives each one's median latency and its ratio to the health
endpoint's median in the same run (`GET /api/v1/health`, which checks the database and the queue).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import re
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import structlog

from benchmarks._common import BASE_URL, Databases, job_queue, running, seconds
from core.app import create_app
from core.clock import utcnow
from core.db import insert_rows, is_sqlite, refresh_planner_statistics, write_transaction
from core.settings import Settings
from ledger.tables import Client, Invoice
from portal.tables import PaymentRequest, PaymentRequestInvoice
from staff.services import create_workspace

WORDS = ("Harbour", "Maple", "Granite", "Copper", "Willow", "Summit", "Lantern", "Orchard", "Falcon", "Meadow")
KINDS = ("Bakery", "Plumbing", "Dental", "Logistics", "Studio", "Farms", "Motors", "Legal", "Cafe", "Builders")
CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
INVOICE_COLUMNS = (
    Invoice.id,
    Invoice.workspace,
    Invoice.client,
    Invoice.source,
    Invoice.external_id,
    Invoice.number,
    Invoice.reference,
    Invoice.currency,
    Invoice.total_minor,
    Invoice.amount_paid_minor,
    Invoice.amount_due_minor,
    Invoice.issue_date,
    Invoice.due_date,
    Invoice.status,
    Invoice.ledger_status,
    Invoice.created_at,
    Invoice.updated_at,
)


@dataclass(frozen=True)
class Book:
    """What was written: counts the checks compare the answers with."""

    outstanding: int
    requested: int


async def write_book(workspace_id: uuid.UUID, invoices: int, clients: int, today: dt.date) -> Book:
    """`invoices` invoices of `clients` clients: 80% outstanding, 15% paid, 5% voided; a tenth requested."""
    now = utcnow()
    client_ids = [uuid.uuid4() for _ in range(clients)]
    client_rows = [
        (
            client_id,
            workspace_id,
            "xero" if n % 3 else "quickbooks",
            f"C{n}",
            f"{WORDS[n % 10]} {KINDS[n // 10 % 10]} {n}",
            f"ap{n}@client{n}.example",
            False,
            now,
        )
        for n, client_id in enumerate(client_ids)
    ]
    invoice_rows: list[tuple[Any, ...]] = []
    requested: dict[uuid.UUID, list[uuid.UUID]] = {}
    outstanding = 0
    for n in range(invoices):
        invoice_id = uuid.uuid4()
        client = n % clients
        turn = (n // clients + client) % 20  # not tied to the client, so every client has some of each
        status = "voided" if turn == 0 else "paid" if turn < 4 else "outstanding"
        total = 5_000 + (n * 7919) % 500_000
        due = today + dt.timedelta(days=(n * 37) % 365 - 180)
        invoice_rows.append(
            (
                invoice_id,
                workspace_id,
                client_ids[client],
                client_rows[client][2],
                f"E{n}",
                f"INV-{n:06d}",
                f"PO {n % 997}",
                ("USD", "GBP", "EUR")[client % 3],
                total,
                total if status == "paid" else 0,
                0 if status == "paid" else total,
                due - dt.timedelta(days=30),
                due,
                status,
                "PAID" if status == "paid" else "VOIDED" if status == "voided" else "AUTHORISED",
                now,
                now,
            )
        )
        if status == "outstanding":
            outstanding += 1
            if turn % 10 == 5:
                requested.setdefault(client_ids[client], []).append(invoice_id)
    request_rows = []
    links = []
    for client_id, ids in requested.items():
        request_id = uuid.uuid4()
        expires = now + dt.timedelta(days=30)
        token_hash = secrets.token_hex(32)
        request_rows.append(
            (request_id, workspace_id, client_id, str(uuid.uuid4()), "sent", "", "", "{}", token_hash, expires, now)
        )
        links += [(request_id, invoice_id) for invoice_id in ids]
    async with write_transaction():
        await insert_rows(
            Client,
            (
                Client.id,
                Client.workspace,
                Client.source,
                Client.external_id,
                Client.name,
                Client.email,
                Client.has_saved_card,
                Client.created_at,
            ),
            client_rows,
        )
        await insert_rows(Invoice, INVOICE_COLUMNS, invoice_rows)
        await insert_rows(
            PaymentRequest,
            (
                PaymentRequest.id,
                PaymentRequest.workspace,
                PaymentRequest.client,
                PaymentRequest.batch_id,
                PaymentRequest.status,
                PaymentRequest.subject,
                PaymentRequest.message,
                PaymentRequest.settings,
                PaymentRequest.token_hash,
                PaymentRequest.link_expires_at,
                PaymentRequest.sent_at,
            ),
            request_rows,
        )
        await insert_rows(PaymentRequestInvoice, (PaymentRequestInvoice.request, PaymentRequestInvoice.invoice), links)
    await settle_statistics()
    return Book(outstanding, len(links))


async def settle_statistics() -> None:
    """The planner statistics a running deployment has within the hour of such a write.

    SQLite gets them from the maintenance job (and `portal serve`), PostgreSQL from autovacuum.
    """
    engine = Invoice._meta.db
    if is_sqlite(engine):
        await refresh_planner_statistics(engine)
    else:
        await engine.run_ddl("ANALYZE")


@dataclass(frozen=True)
class Case:
    """One timed request."""

    label: str
    method: str
    path: str
    check: str
    """What the answer is checked for (a substring of its body)."""
    form: bool = False
    """A staff form POST: it carries the CSRF token, and the selection is cleared after each."""


def cases() -> list[Case]:
    """Health first (the baseline), then the list API, the Collections page and "select all matching"."""
    return [
        Case("health", "GET", "/api/v1/health", '"status":"ok"'),
        Case("API first page", "GET", "/api/v1/invoices", '"next_cursor":"'),
        Case("API filtered page", "GET", "/api/v1/invoices?source=quickbooks&overdue=true&sort=-amount_due", '"items"'),
        Case("API search (client name)", "GET", "/api/v1/invoices?q=Granite%20Dental", '"items"'),
        Case("API search (number)", "GET", "/api/v1/invoices?q=0421", '"number":"INV-'),
        Case("page, first", "GET", "/staff/collections", 'data-testid="staff-invoice-row"'),
        Case("page, filtered", "GET", "/staff/collections?source=quickbooks&overdue=1&sort=-amount_due", "<table"),
        Case("page, search", "GET", "/staff/collections?q=Granite%20Dental", "<table"),
        Case("select all matching (overdue)", "POST", "/staff/selection/all?overdue=1", "selection-count", form=True),
    ]


async def sign_in(http: httpx.AsyncClient, email: str, password: str) -> str:
    """A staff session in the client's cookies; returns the CSRF token its forms carry."""
    page = await http.get("/staff/login")
    match = CSRF.search(page.text)
    assert match, "the sign-in form has no CSRF token"
    await http.post("/staff/login", data={"email": email, "password": password, "_csrf_token": match.group(1)})
    collections = await http.get("/staff/collections")
    match = CSRF.search(collections.text)
    if collections.status_code != 200 or not match:
        raise RuntimeError(f"staff sign-in failed: {collections.status_code}")
    return match.group(1)


async def time_cases(
    http: httpx.AsyncClient, api_token: str, csrf: str, repeat: int, warmup: int
) -> dict[str, list[float]]:
    """Each case `warmup` times untimed, then `repeat` times, the cases taking turns; seconds per request."""
    times: dict[str, list[float]] = {case.label: [] for case in cases()}
    bearer = {"Authorization": f"Bearer {api_token}"}
    for round_ in range(warmup + repeat):
        for case in cases():
            headers = dict(bearer) if case.path.startswith("/api/") else {}
            data = None
            if case.form:
                headers["HX-Request"] = "true"
                data = {"_csrf_token": csrf}
            started = time.perf_counter()
            response = await http.request(case.method, case.path, headers=headers, data=data)
            elapsed = time.perf_counter() - started
            if response.status_code != 200 or case.check not in response.text:
                raise RuntimeError(f"{case.label}: {response.status_code} {response.text[:300]}")
            if case.form:
                await http.post("/staff/selection/clear", data={"_csrf_token": csrf}, headers={"HX-Request": "true"})
            if round_ >= warmup:
                times[case.label].append(elapsed)
    return times


async def main_async(options: argparse.Namespace, tmp_dir: Path) -> None:
    """Write the book, start the app, time the cases, report."""
    async with Databases.migrated(options.database_url, tmp_dir) as databases, databases.copy() as url:
        settings = Settings(
            database_url=url,
            queue_url=options.queue_url,
            queue_name=f"bench-{uuid.uuid4().hex[:8]}",
            base_url=BASE_URL,
            secret_key=secrets.token_urlsafe(32),
        )
        async with job_queue(settings, tmp_dir) as queue:
            app = create_app(settings, queue=queue, run_worker=False)
            asgi: Any = app
            async with (
                running(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi), base_url="http://127.0.0.1") as http,
            ):
                email, password = f"bench-{uuid.uuid4().hex[:8]}@firm.example", secrets.token_urlsafe(16)
                created = await create_workspace(
                    name="Benchmark Accounting", admin_email=email, admin_password=password
                )
                started = time.perf_counter()
                book = await write_book(
                    uuid.UUID(created.workspace_id), options.invoices, options.clients, utcnow().date()
                )
                print(
                    f"  wrote {options.invoices:,} invoices of {options.clients:,} clients in"
                    f" {seconds(time.perf_counter() - started)}: {book.outstanding:,} outstanding,"
                    f" {book.requested:,} of them on a payment request"
                )
                csrf = await sign_in(http, email, password)
                first = msgspec.json.decode(
                    (
                        await http.get("/api/v1/invoices", headers={"Authorization": f"Bearer {created.api_token}"})
                    ).content
                )
                if first["total_count"] != book.outstanding:
                    raise RuntimeError(
                        f"the list counts {first['total_count']:,} outstanding, not {book.outstanding:,}"
                    )
                times = await time_cases(http, created.api_token, csrf, options.repeat, options.warmup)
    report(times, options)


def report(times: dict[str, list[float]], options: argparse.Namespace) -> None:
    """Median and p95 of each case, and its median against the health endpoint's."""
    health = statistics.median(times["health"])
    print(f"result (median of {options.repeat} requests each, {options.invoices:,} invoices in one workspace):")
    for label, values in times.items():
        median = statistics.median(values)
        p95 = sorted(values)[max(0, round(len(values) * 0.95) - 1)]
        ratio = "(baseline)" if label == "health" else f"{median / health:6.1f} x health"
        print(f"  {label:<32}p50 {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  {ratio}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outstanding_list", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices in the workspace (default 100000)")
    parser.add_argument("--clients", type=int, default=5_000, help="clients they belong to (default 5000)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per case (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per case first (default 2)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server, e.g. postgresql://root@127.0.0.1:5432/test (a fresh database is created there and"
        " dropped); default a SQLite file in a temp directory",
    )
    parser.add_argument(
        "--queue-url", default=None, help="a Redis queue server as PORTAL_QUEUE_URL takes it; default the embedded one"
    )
    options = parser.parse_args(argv)
    if options.clients < 1 or options.invoices < 100 or options.repeat < 1:
        parser.error("need at least one client, 100 invoices and one timed request per case")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    options = parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    database = "PostgreSQL" if options.database_url else "SQLite"
    print(f"outstanding list benchmark: {options.invoices:,} invoices, {database}")
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        asyncio.run(main_async(options, Path(tmp)))


if __name__ == "__main__":
    main()
