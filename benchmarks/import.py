"""First Xero import against fetching the same pages raw: `python -m benchmarks.import [--invoices N]`.

One organisation of the Xero sandbox gets N invoices, all dated inside the first-import window
and all still owed, so every one is fetched and imported. The sandbox is served by uvicorn on a
loopback port, in a thread of this process, and both sides talk to that same server:

- raw (the baseline): every page of the first import fetched with a plain `httpx.AsyncClient`
  (same URL, query and headers as our client) and decoded with `response.json()`, nothing else;
- ours: `ledger.sync.sync_connection` for a new workspace and connection, into the database.

Each run gets a fresh copy of a migrated database (so every run starts from the same state), warms
up on a one-page organisation, then times both sides, alternating which goes first. With --repeat > 1
the medians are reported. Last, an unchanged re-sync shows the calls of the incremental path.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import logging
import secrets
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec
import structlog

from benchmarks._common import BASE_URL, CLIENT_ID, HTTP_TIMEOUT, Databases, Linked, link, seconds, serving
from core.clock import utcnow
from core.db import bind_engine, connected, engine_for_url
from core.settings import Settings
from ledger.clients import LedgerContext
from ledger.providers.xero import FIRST_IMPORT_STATUSES, PAGE_SIZE
from ledger.sandbox.seed import AUTHORISED, PAID, SeedData, synthetic_seed
from ledger.sandbox.xero import XeroSandbox, create_app
from ledger.sandbox.xero_state import XeroTenant
from ledger.sync import FIRST_IMPORT_DAYS, SyncReport, sync_connection
from ledger.tables import Invoice

T = TypeVar("T")

INVOICES_PATH = "/api.xro/2.0/Invoices"


# ----- set-up: sandbox, server, database, connections ------------------------------------------------


def open_book(n: int, today: dt.date) -> SeedData:
    """`n` owed invoices (some part-paid), all dated inside the first-import window."""
    data = synthetic_seed(n, today=today)
    invoices = tuple(
        dataclasses.replace(
            invoice,
            issue_date=today - dt.timedelta(days=index % 80),
            due_date=today - dt.timedelta(days=index % 80 - 30),
            status=AUTHORISED,
            paid_minor=0 if invoice.status == PAID else invoice.paid_minor,
        )
        for index, invoice in enumerate(data.invoices)
    )
    return SeedData(data.clients, invoices)


@dataclass(frozen=True)
class Stage:
    """The seeded sandbox: our app registered, the organisation to import and a one-page warm-up one."""

    sandbox: XeroSandbox
    client_secret: str
    books: XeroTenant
    warm_up: XeroTenant

    @classmethod
    def seed(cls, invoices: int) -> Stage:
        """A sandbox whose `books` hold `invoices` open invoices."""
        sandbox = XeroSandbox()
        today = sandbox.clock.today()
        client_secret = secrets.token_urlsafe(24)
        sandbox.register_app(CLIENT_ID, client_secret, [f"{BASE_URL}/ledger/callback/xero"])
        books = sandbox.add_tenant("Benchmark Books Ltd")
        sandbox.load_seed(books.tenant_id, open_book(invoices, today))
        warm_up = sandbox.add_tenant("Warm-up Books Ltd")
        sandbox.load_seed(warm_up.tenant_id, open_book(min(invoices, PAGE_SIZE // 2), today))
        return cls(sandbox, client_secret, books, warm_up)


# ----- the two sides -----------------------------------------------------------------------------------


async def fetch_raw(client: httpx.AsyncClient, api_base: str, linked: Linked) -> int:
    """The baseline: GET every page our first import asks for and decode it; returns the invoices seen."""
    since = utcnow().date() - dt.timedelta(days=FIRST_IMPORT_DAYS)
    where = f'Type=="ACCREC" AND Date>=DateTime({since.year},{since.month:02d},{since.day:02d})'
    headers = {
        "Authorization": f"Bearer {linked.access_token}",
        "xero-tenant-id": linked.tenant_id,
        "Accept": "application/json",
    }
    url = api_base + INVOICES_PATH
    seen, page = 0, 1
    while True:
        params: dict[str, str | int] = {
            "page": page,
            "pageSize": PAGE_SIZE,
            "where": where,
            "Statuses": FIRST_IMPORT_STATUSES,
            "order": "UpdatedDateUTC ASC",
        }
        response = await client.get(url, params=params, headers=headers)
        response.raise_for_status()
        body = response.json()
        items = body.get("Invoices") or []
        seen += len(items)
        if len(items) < PAGE_SIZE or page >= body["pagination"]["pageCount"]:
            return seen
        page += 1


@dataclass(frozen=True)
class Side:
    """One timed side of a run, with the calls the sandbox saw during it."""

    seconds: float
    queries: list[dict[str, str]]
    """Query strings of the GET /Invoices calls, in order."""
    requests: int
    """Every request the sandbox answered meanwhile (token refreshes would show here)."""


async def timed(sandbox: XeroSandbox, work: Callable[[], Awaitable[T]]) -> tuple[Side, T]:
    """Run `work` and return its wall time, the sandbox calls it caused, and its result."""
    mark = len(sandbox.log)
    started = time.perf_counter()
    result = await work()
    seconds = time.perf_counter() - started
    entries = sandbox.log.entries[mark:]
    queries = [e.query for e in entries if e.method == "GET" and e.path == INVOICES_PATH]
    return Side(seconds, queries, len(entries)), result


@dataclass(frozen=True)
class Run:
    """Both sides of one run over the same organisation."""

    raw: Side
    ours: Side
    fetched: int
    report: SyncReport
    http_calls: int
    """`LedgerHttp.calls` made by the sync."""
    rows: int
    """Invoice rows the workspace holds afterwards."""

    @property
    def ratio(self) -> float:
        """Our import's wall time over the raw fetch's."""
        return self.ours.seconds / self.raw.seconds


@dataclass(frozen=True)
class Resync:
    """A second sync of the imported connection, with nothing changed in the ledger."""

    side: Side
    report: SyncReport
    http_calls: int


@dataclass
class Bench:
    """One database's worth of runs: settings, the sandbox and one HTTP client per side."""

    settings: Settings
    sandbox: XeroSandbox
    context: LedgerContext
    raw_client: httpx.AsyncClient

    async def run(self, tenant: XeroTenant, *, raw_first: bool) -> tuple[Run, Linked]:
        """Time the raw fetch and our first import of `tenant` (untimed: a new workspace and connection)."""
        linked = await link(self.settings, self.sandbox, tenant)
        calls_before = self.context.http.calls

        async def raw() -> tuple[Side, int]:
            return await timed(self.sandbox, lambda: fetch_raw(self.raw_client, self.settings.xero_api_base, linked))

        async def ours() -> tuple[Side, SyncReport]:
            return await timed(self.sandbox, lambda: sync_connection(self.context, linked.connection_id))

        if raw_first:
            (raw_side, fetched), (ours_side, report) = await raw(), await ours()
        else:
            (ours_side, report), (raw_side, fetched) = await ours(), await raw()
        rows = await Invoice.count().where(Invoice.workspace == linked.workspace_id)
        http_calls = self.context.http.calls - calls_before
        return Run(raw_side, ours_side, fetched, report, http_calls, rows), linked

    async def resync(self, linked: Linked) -> Resync:
        """Sync an imported connection again."""
        calls_before = self.context.http.calls
        side, report = await timed(self.sandbox, lambda: sync_connection(self.context, linked.connection_id))
        return Resync(side, report, self.context.http.calls - calls_before)


# ----- reporting ---------------------------------------------------------------------------------------


def describe(index: int, run: Run) -> str:
    """One line per run."""
    return (
        f"run {index}: raw {seconds(run.raw.seconds)} ({len(run.raw.queries)} calls, {run.fetched:,} invoices)"
        f" | ours {seconds(run.ours.seconds)} ({len(run.ours.queries)} calls, {run.report.imported:,} imported)"
        f" | ours/raw {run.ratio:.2f}"
    )


def summary(n: int, runs: Sequence[Run], resync: Resync) -> list[str]:
    """The result block: counts, medians and the ratio."""
    last = runs[-1]
    label = f"median of {len(runs)} runs" if len(runs) > 1 else "1 run"
    return [
        f"result ({label}):",
        f"  sandbox invoices          {n:,}",
        f"  invoices imported         {last.report.imported:,} (rows in the workspace: {last.rows:,})",
        f"  ledger calls, raw         {len(last.raw.queries)} GET /Invoices ({last.raw.requests} requests in all)",
        f"  ledger calls, ours        {len(last.ours.queries)} GET /Invoices ({last.ours.requests} requests in all;"
        f" LedgerHttp.calls {last.http_calls}; report.ledger_calls {last.report.ledger_calls})",
        f"  same pages both sides     {'yes' if all(r.raw.queries == r.ours.queries for r in runs) else 'NO'}",
        f"  raw httpx fetch           {seconds(statistics.median(r.raw.seconds for r in runs))}",
        f"  our import                {seconds(statistics.median(r.ours.seconds for r in runs))}",
        f"  ours/raw                  {statistics.median(r.ratio for r in runs):.2f}",
        f"  unchanged re-sync         {len(resync.side.queries)} GET /Invoices (LedgerHttp.calls {resync.http_calls}),"
        f" {seconds(resync.side.seconds)}, {resync.report.imported} imported, {resync.report.updated} updated",
    ]


# ----- driver ------------------------------------------------------------------------------------------


async def measure(
    stage: Stage, settings: Settings, clients: tuple[httpx.AsyncClient, httpx.AsyncClient], *, raw_first: bool
) -> tuple[Run, Resync]:
    """One run on a fresh database: warm up, time both sides, then re-sync the imported connection."""
    app_client, raw_client = clients
    bench = Bench(settings, stage.sandbox, LedgerContext.create(settings, app_client), raw_client)
    await bench.run(stage.warm_up, raw_first=True)
    run, linked = await bench.run(stage.books, raw_first=raw_first)
    return run, await bench.resync(linked)


async def main_async(options: argparse.Namespace, stage: Stage, sandbox_url: str, tmp_dir: Path) -> None:
    """Every run on its own copy of the migrated template; then the summary."""
    settings = Settings(
        base_url=BASE_URL,
        secret_key=secrets.token_urlsafe(32),
        xero_client_id=CLIENT_ID,
        xero_client_secret=stage.client_secret,
        xero_login_base=sandbox_url,
        xero_identity_base=sandbox_url,
        xero_api_base=sandbox_url,
    )
    runs: list[Run] = []
    async with (
        Databases.migrated(options.database_url, tmp_dir) as databases,
        httpx.AsyncClient(timeout=HTTP_TIMEOUT) as app_client,
        httpx.AsyncClient(timeout=HTTP_TIMEOUT) as raw_client,
    ):
        for index in range(options.repeat):
            async with databases.copy() as url:
                engine = engine_for_url(url)
                bind_engine(engine)
                async with connected(engine):
                    run_settings = msgspec.structs.replace(settings, database_url=url)
                    run, resync = await measure(stage, run_settings, (app_client, raw_client), raw_first=index % 2 == 0)
            runs.append(run)
            print(describe(index + 1, run))
    for line in summary(len(stage.books.invoices), runs, resync):
        print(line)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.import", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=50_000, help="sandbox invoices to import (default 50000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; medians are reported (default 3)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to run against, e.g. postgresql://root@127.0.0.1:5432/test"
        " (fresh databases are created there and dropped); default SQLite files in a temp directory",
    )
    options = parser.parse_args(argv)
    if options.invoices < 1 or options.repeat < 1:
        parser.error("--invoices and --repeat must be at least 1")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Seed the sandbox, serve it, and benchmark against it."""
    options = parse_args(argv)
    # The sync logs one info event per import; keep the console to the benchmark's own lines.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    started = time.perf_counter()
    stage = Stage.seed(options.invoices)
    database = "PostgreSQL" if options.database_url else "SQLite"
    print(
        f"import benchmark: {options.invoices:,} sandbox invoices, {database}, repeat {options.repeat}"
        f" (sandbox seeded in {seconds(time.perf_counter() - started)}; each run: fresh database,"
        f" warm-up on {len(stage.warm_up.invoices):,} invoices)"
    )
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp, serving(create_app(stage.sandbox)) as url:
        asyncio.run(main_async(options, stage, url, Path(tmp)))


if __name__ == "__main__":
    main()
