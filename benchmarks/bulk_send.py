"""Bulk payment requests against a bare SMTP loop: `python -m benchmarks.bulk_send [--clients C] [--invoices N]`.

A Xero sandbox organisation holds N open invoices dealt evenly to C clients, every client with an
email address; a new workspace imports them through our sync (untimed), so deliveries attach the
ledger's real PDFs. The app runs as `portal serve` runs it on the embedded queue: built by
`core.app.create_app` with its job worker in-process, its lifespan held in this event loop, and
called through httpx's ASGI transport with the workspace's API token. Mail goes to an aiosmtpd
server on a loopback port, in a thread of this process, whose handler only notes when each message
arrived.

- ours: `POST /api/v1/payment-requests` with every invoice id and `mode: send` (in as few calls as
  the API's per-call cap allows, each client's invoices in one call), timed until the call answers
  202, then until the SMTP server holds the last of the C emails. Twice: first with no invoice PDF
  cached (each delivery fetches its PDFs from the sandbox), then for the same invoices again, with
  every PDF cached.
- bare (the baseline): the emails the second send delivered, parsed back into `OutgoingEmail`s and
  rebuilt with `core.mail.to_mime` before the clock starts, then sent with `aiosmtplib.send`, one
  SMTP session per message as `SmtpMailer` does: one at a time, and as many at once as our worker
  runs jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import email
import email.policy
import inspect
import logging
import re
import secrets
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import msgspec
import structlog
from aiosmtpd.controller import Controller
from saq.job import Job
from saq.queue import Queue

from benchmarks._common import BASE_URL, CLIENT_ID, Databases, free_port, job_queue, link, running, seconds, serving
from core.app import create_app
from core.mail import SMTP_TIMEOUT, Attachment, OutgoingEmail, to_mime
from core.settings import Settings
from jobs.requests import DELIVER, DISPATCH
from jobs.worker import build_worker
from ledger.sandbox.seed import AUTHORISED, PAID, SeedData, synthetic_seed
from ledger.sandbox.xero import XeroSandbox
from ledger.sandbox.xero import create_app as create_sandbox
from ledger.sandbox.xero_state import XeroTenant
from ledger.sync import sync_connection
from ledger.tables import Invoice
from portal.tables import PaymentRequest
from staff.request_schemas import MAX_INVOICES

SENDER = "billing@firm.example"
API_PATH = "/api/v1/payment-requests"
INVOICE_PREFIX = "/api.xro/2.0/Invoices/"
"""`GET /Invoices/{id}` with `Accept: application/pdf` is how our Xero client fetches an invoice copy."""
WORKER_CONCURRENCY: int = inspect.signature(build_worker).parameters["concurrency"].default
"""Jobs the app's in-process worker runs at once (`create_app` keeps `build_worker`'s default)."""
GOAL_SECONDS = 1.0
"""Each send call (at most the API's 5,000 invoices) should answer within this."""
REQUEST_ID = re.compile(r"<request-([0-9a-f-]{36})@")
BOUNDARY = re.compile(rb"={15}\d+==")


# ----- set-up: the book, the SMTP server, the queue, the running app -----------------------------------


def bulk_book(invoices: int, clients: int, today: dt.date) -> SeedData:
    """`invoices` owed invoices dealt round-robin to `clients` clients, all inside the first-import window."""
    data = synthetic_seed(invoices, today=today, clients=clients)
    pool = data.clients
    book = tuple(
        dataclasses.replace(
            invoice,
            client_key=pool[index % clients].key,
            currency=pool[index % clients].currency,
            issue_date=today - dt.timedelta(days=index % 80),
            due_date=today - dt.timedelta(days=index % 80 - 30),
            status=AUTHORISED,
            paid_minor=0 if invoice.status == PAID else invoice.paid_minor,
        )
        for index, invoice in enumerate(data.invoices)
    )
    return SeedData(pool, book)


@dataclass(frozen=True)
class Stage:
    """The seeded sandbox: our app registered and the organisation whose invoices are requested."""

    sandbox: XeroSandbox
    client_secret: str
    books: XeroTenant

    @classmethod
    def seed(cls, invoices: int, clients: int) -> Stage:
        """A sandbox whose `books` hold `invoices` open invoices of `clients` clients."""
        sandbox = XeroSandbox()
        client_secret = secrets.token_urlsafe(24)
        sandbox.register_app(CLIENT_ID, client_secret, [f"{BASE_URL}/ledger/callback/xero"])
        books = sandbox.add_tenant("Benchmark Books Ltd")
        sandbox.load_seed(books.tenant_id, bulk_book(invoices, clients, sandbox.clock.today()))
        return cls(sandbox, client_secret, books)


@dataclass(frozen=True)
class Arrival:
    """A message as the SMTP server got it."""

    at: float
    """`time.perf_counter()` when its DATA was complete."""
    content: bytes


class Inbox:
    """The aiosmtpd handler: keeps each message and when it arrived, nothing more, so the server stays cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        arrival = Arrival(time.perf_counter(), bytes(envelope.content))
        with self._lock:
            self._arrivals.append(arrival)
        return "250 OK"

    def __len__(self) -> int:
        with self._lock:
            return len(self._arrivals)

    def take(self) -> list[Arrival]:
        """Everything received since the last `take`, oldest first."""
        with self._lock:
            arrivals, self._arrivals = self._arrivals, []
        return arrivals

    async def wait_for(self, count: int, within: float) -> None:
        """Return once `count` messages are in (their arrival times say when); TimeoutError after `within` s."""
        deadline = time.monotonic() + within
        while len(self) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the SMTP server got {len(self):,} of {count:,} messages in {within:.0f} s")
            await asyncio.sleep(0.005)


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    """aiosmtpd on 127.0.0.1 in its own thread until the block ends; yields its port and handler."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@dataclass
class Jobs:
    """Counts the queue's jobs: enqueued per function (through SAQ's hook), finished from its counters."""

    queue: Queue
    enqueued: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.queue.register_before_enqueue(self._count)

    async def _count(self, job: Job) -> None:
        self.enqueued[job.function] += 1

    def finished(self) -> tuple[int, int, int, int]:
        """Jobs complete, failed, aborted and retried so far (by this process's worker)."""
        return self.queue.complete, self.queue.failed, self.queue.aborted, self.queue.retried


class SaqEvents(logging.Handler):
    """Counts, per job function, what SAQ only tells its log: jobs swept (taken for dead) and jobs retried."""

    EVENTS = re.compile(r"^(Sweeping|Retrying) .*?function: (\w+)")

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = self.EVENTS.match(record.getMessage())
        if match:
            self.counts[f"{match.group(1).lower()} {match.group(2)}"] += 1

    @classmethod
    def install(cls) -> SaqEvents:
        """Listen to SAQ's info events; only its errors still reach the console."""
        events = cls()
        console = logging.StreamHandler()
        console.setLevel(logging.ERROR)
        saq = logging.getLogger("saq")
        saq.setLevel(logging.INFO)
        saq.propagate = False
        saq.addHandler(events)
        saq.addHandler(console)
        return events


@dataclass(frozen=True)
class Selection:
    """The workspace's open invoices, as the send calls carry them."""

    by_client: dict[str, list[str]]
    """Invoice ids per client id."""
    emails: dict[str, str]
    """Client id to email address."""
    numbers: dict[str, str]
    """Invoice id to invoice number (each PDF is attached as `<number>.pdf`)."""

    @property
    def invoices(self) -> int:
        """Invoices selected."""
        return len(self.numbers)

    def calls(self, cap: int) -> list[list[str]]:
        """Invoice ids per send call: at most `cap` each, a client's invoices never split (one email each)."""
        calls: list[list[str]] = [[]]
        for ids in self.by_client.values():
            if calls[-1] and len(calls[-1]) + len(ids) > cap:
                calls.append([])
            calls[-1].extend(ids)
        return calls


async def open_invoices(workspace_id: uuid.UUID) -> Selection:
    """Every outstanding invoice of the workspace, grouped per client."""
    rows = await Invoice.select(Invoice.id, Invoice.number, Invoice.client.id, Invoice.client.email).where(
        (Invoice.workspace == workspace_id) & (Invoice.status == "outstanding")
    )
    by_client: dict[str, list[str]] = defaultdict(list)
    emails: dict[str, str] = {}
    numbers: dict[str, str] = {}
    for row in rows:
        client_id = str(row["client.id"])
        by_client[client_id].append(str(row["id"]))
        emails[client_id] = row["client.email"]
        numbers[str(row["id"])] = row["number"]
    return Selection(dict(by_client), emails, numbers)


# ----- our side: the send calls, the worker, SMTP ------------------------------------------------------


@dataclass(frozen=True)
class Checks:
    """What the SMTP server got from one send, against the requests the calls created."""

    requests: int
    messages: int
    clients_once: int
    """Clients who got exactly one email."""
    duplicates: int
    """Emails beyond the first for a request or a client."""
    strays: int
    """Emails that belong to no request of this send."""
    attachments: int
    wrong_attachments: int
    """Emails whose PDFs are not exactly their request's invoices."""
    statuses: Counter[str]
    """The requests' rows afterwards."""

    @property
    def ok(self) -> bool:
        """Every client exactly once, with its invoices attached, and every row sent."""
        return (
            self.clients_once == self.requests == self.messages
            and not (self.duplicates or self.strays or self.wrong_attachments)
            and self.statuses == Counter({"sent": self.requests})
        )


@dataclass(frozen=True)
class Send:
    """One send of the whole selection, timed from the first API call."""

    label: str
    calls: list[float]
    """Seconds each send call took to answer 202."""
    first_message: float
    last_message: float
    jobs_done: float
    """When every request's row said sent or failed (a delivery updates its row after SMTP)."""
    enqueued: Counter[str]
    finished: tuple[int, int, int, int]
    """Complete, failed, aborted, retried."""
    saq_events: Counter[str]
    """Sweeps and retries SAQ logged, per job function."""
    pdf_fetches: int
    """PDF downloads from the sandbox."""
    checks: Checks

    @property
    def rate(self) -> float:
        """Emails delivered per second, from the first call to the last email."""
        return self.checks.messages / self.last_message


def parse(content: bytes) -> EmailMessage:
    """A received message as an `EmailMessage`."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def check(
    arrivals: Sequence[Arrival], requests: Sequence[dict[str, Any]], selection: Selection, statuses: Counter[str]
) -> Checks:
    """Match each email to its request by Message-ID; compare recipient and attachments."""
    expected = {request["id"]: request for request in requests}
    per_request: Counter[str] = Counter()
    per_address: Counter[str] = Counter()
    strays = attachments = wrong = 0
    for arrival in arrivals:
        message = parse(arrival.content)
        match = REQUEST_ID.search(message["Message-ID"] or "")
        request = expected.get(match.group(1)) if match else None
        per_address[str(message["To"])] += 1
        names = sorted(part.get_filename() or "" for part in message.iter_attachments())
        attachments += len(names)
        if request is None:
            strays += 1
            continue
        per_request[request["id"]] += 1
        wanted = sorted(f"{selection.numbers[invoice_id]}.pdf" for invoice_id in request["invoice_ids"])
        if names != wanted or message["To"] != selection.emails[request["client_id"]]:
            wrong += 1
    clients_once = sum(
        1
        for request in requests
        if per_request[request["id"]] == 1 and per_address[selection.emails[request["client_id"]]] == 1
    )
    # A second email for one request is also a second one for its client: count it once.
    duplicates = max(sum(n - 1 for n in per_request.values()), sum(n - 1 for n in per_address.values()))
    return Checks(len(requests), len(arrivals), clients_once, duplicates, strays, attachments, wrong, statuses)


@dataclass
class Bench:
    """The running app, its API client and token, the SMTP server and the sandbox."""

    http: httpx.AsyncClient
    api_token: str
    inbox: Inbox
    jobs: Jobs
    sandbox: XeroSandbox
    saq_events: SaqEvents
    timeout: float
    per_call: int
    """Invoice ids per send call at most."""

    async def send(self, label: str, selection: Selection) -> tuple[Send, list[Arrival]]:
        """Send every open invoice; time the calls, the last email and the last job; check what arrived."""
        bodies = [msgspec.json.encode({"invoice_ids": ids, "mode": "send"}) for ids in selection.calls(self.per_call)]
        headers = {"Authorization": f"Bearer {self.api_token}", "Content-Type": "application/json"}
        enqueued_before, finished_before = self.jobs.enqueued.copy(), self.jobs.finished()
        events_before = self.saq_events.counts.copy()
        pdfs_before = self.sandbox.log.count("GET", prefix=INVOICE_PREFIX)
        self.inbox.take()
        requests: list[dict[str, Any]] = []
        calls: list[float] = []
        started = time.perf_counter()
        for body in bodies:
            call_started = time.perf_counter()
            response = await self.http.post(API_PATH, content=body, headers=headers)
            calls.append(time.perf_counter() - call_started)
            if response.status_code != 202:
                hint = " (try fewer invoices per call with --per-call)" if response.status_code == 500 else ""
                raise RuntimeError(f"send call answered {response.status_code}{hint}: {response.text[:500]}")
            requests += msgspec.json.decode(response.content)["requests"]
        await self.inbox.wait_for(len(requests), self.timeout)
        # Each delivery updates its row after SMTP: done when no row is queued or sending any more.
        ids = [uuid.UUID(request["id"]) for request in requests]
        deadline = time.monotonic() + self.timeout
        while True:
            rows = await PaymentRequest.select(PaymentRequest.status).where(PaymentRequest.id.is_in(ids))
            statuses = Counter(str(row["status"]) for row in rows)
            if not statuses["queued"] + statuses["sending"]:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"requests still unsent after {self.timeout:.0f} s: {dict(statuses)}")
            await asyncio.sleep(0.02)
        jobs_done = time.perf_counter() - started
        # Then let the last jobs finish (their activity rows), so the counters below are the send's.
        expected_jobs = len(bodies) + len(requests)  # one dispatch per call, one delivery per request
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(self._since(finished_before)[:3]) >= expected_jobs:
                break
            await asyncio.sleep(0.01)
        arrivals = self.inbox.take()
        result = Send(
            label=label,
            calls=calls,
            first_message=min(arrival.at for arrival in arrivals) - started,
            last_message=max(arrival.at for arrival in arrivals) - started,
            jobs_done=jobs_done,
            enqueued=self.jobs.enqueued - enqueued_before,
            finished=self._since(finished_before),
            saq_events=self.saq_events.counts - events_before,
            pdf_fetches=self.sandbox.log.count("GET", prefix=INVOICE_PREFIX) - pdfs_before,
            checks=check(arrivals, requests, selection, statuses),
        )
        return result, arrivals

    def _since(self, before: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        now = self.jobs.finished()
        return (now[0] - before[0], now[1] - before[1], now[2] - before[2], now[3] - before[3])


# ----- the baseline: a bare aiosmtplib loop ------------------------------------------------------------


def rebuilt(content: bytes) -> EmailMessage:
    """A delivered email read back into the `OutgoingEmail` it came from, and built again with `to_mime`."""
    message = parse(content)
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None
    assert html is not None
    from_name, sender = parseaddr(str(message["From"]))
    outgoing = OutgoingEmail(
        to=str(message["To"]),
        subject=str(message["Subject"]),
        text=plain.get_content(),
        html=html.get_content(),
        attachments=tuple(
            Attachment(part.get_filename() or "", part.get_content_type(), part.get_content())
            for part in message.iter_attachments()
        ),
        reply_to=str(message["Reply-To"]) if message["Reply-To"] else None,
        from_name=from_name or None,
        message_id=str(message["Message-ID"]),
    )
    return to_mime(outgoing, sender)


def same_bytes(message: EmailMessage, content: bytes) -> bool:
    """True when `message` goes on the wire as `content` did, MIME boundaries aside (they are random)."""
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    return BOUNDARY.sub(b"=", wire).rstrip(b"\r\n") == BOUNDARY.sub(b"=", content).rstrip(b"\r\n")


@dataclass(frozen=True)
class Bare:
    """The baseline: prebuilt messages sent straight to the SMTP server."""

    concurrency: int
    messages: int
    last_message: float

    @property
    def rate(self) -> float:
        """Emails delivered per second."""
        return self.messages / self.last_message


async def send_bare(messages: Sequence[EmailMessage], port: int, inbox: Inbox, concurrency: int) -> Bare:
    """`aiosmtplib.send` per message, as `SmtpMailer` calls it, `concurrency` at a time; timed to the last arrival."""
    pending = iter(messages)

    async def sender() -> None:
        for message in pending:  # One iterator shared by every sender: each message goes once.
            await aiosmtplib.send(
                message, hostname="127.0.0.1", port=port, use_tls=False, start_tls=False, timeout=SMTP_TIMEOUT
            )

    inbox.take()
    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    await inbox.wait_for(len(messages), 30)
    arrivals = inbox.take()
    return Bare(concurrency, len(arrivals), max(arrival.at for arrival in arrivals) - started)


# ----- reporting ---------------------------------------------------------------------------------------


def call_times(send: Send) -> str:
    """The send calls' answer times."""
    return " + ".join(seconds(value) for value in send.calls)


def describe(send: Send) -> list[str]:
    """A few lines per send."""
    checks = send.checks
    complete, failed, aborted, retried = send.finished
    # Only the send's own jobs: the worker's cron scheduler also tries to enqueue its jobs every second.
    enqueued = ", ".join(f"{send.enqueued[name]:,} {name}" for name in (DISPATCH.name, DELIVER.name))
    verdict = "ok" if checks.ok else "PROBLEM"
    return [
        f"{send.label}: send {'calls' if len(send.calls) > 1 else 'call'} answered in {call_times(send)};"
        f" first email at {seconds(send.first_message)}, last of {checks.messages:,} at {seconds(send.last_message)}"
        f" ({send.rate:,.1f}/s); every row updated at {seconds(send.jobs_done)}",
        f"  jobs: enqueued {enqueued}; the worker finished {complete:,} (cron jobs included), {failed} failed,"
        f" {aborted} aborted, {retried} retried; SAQ logged "
        + (", ".join(f"{n} {event}" for event, n in sorted(send.saq_events.items())) or "no sweep or retry"),
        f"  ledger: {send.pdf_fetches:,} PDF downloads from the sandbox",
        f"  checks ({verdict}): {checks.requests:,} requests, {checks.messages:,} emails, {checks.clients_once:,}"
        f" clients got exactly one, {checks.duplicates} duplicates, {checks.strays} strays,"
        f" {checks.attachments:,} PDFs attached ({checks.wrong_attachments} emails with the wrong ones),"
        f" rows: {', '.join(f'{n:,} {status}' for status, n in sorted(checks.statuses.items()))}",
    ]


def summary(cold: Send, warm: Send, bare: Sequence[Bare], invoices: int, clients: int, per_call: int) -> list[str]:
    """The result block: the call against its goal, throughputs and the ratios."""

    def row(label: str, value: str) -> str:
        return f"  {label:<34}{value}"

    one_call = len(warm.calls) == 1
    cap = "the API takes" if per_call == MAX_INVOICES else "--per-call sends"
    note = "" if one_call else f" ({len(warm.calls)} calls: {cap} at most {per_call:,} invoices per call)"
    slowest = max(max(cold.calls), max(warm.calls))
    goal = "met" if slowest < GOAL_SECONDS else f"NOT MET (slowest {seconds(slowest)})"
    lines = [
        "result:",
        row("selection", f"{invoices:,} invoices of {clients:,} clients{note}"),
        row("send call, PDFs not cached", call_times(cold)),
        row("send call, PDFs cached", call_times(warm)),
        row(f"goal: every call under {seconds(GOAL_SECONDS)}", goal),
        row("ours, PDFs not cached", f"{cold.rate:7,.1f} emails/s ({cold.pdf_fetches:,} PDF downloads)"),
        row("ours, PDFs cached", f"{warm.rate:7,.1f} emails/s"),
    ]
    lines += [row(f"bare aiosmtplib, {run.concurrency} at a time", f"{run.rate:7,.1f} emails/s") for run in bare]
    lines += [
        row(
            f"ours/bare, {run.concurrency} at a time",
            f"{warm.rate / run.rate:.3f} (PDFs cached), {cold.rate / run.rate:.3f} (not cached)",
        )
        for run in bare
    ]
    both = "yes, in both sends" if cold.checks.ok and warm.checks.ok else "NO (see the checks above)"
    lines.append(row("one email per client, all sent", both))
    return lines


# ----- driver ------------------------------------------------------------------------------------------


async def main_async(options: argparse.Namespace, stage: Stage, sandbox_url: str, tmp_dir: Path) -> None:
    """Set up the app and its data, send twice, time the bare loop on the same emails, report."""
    saq_events = SaqEvents.install()
    with smtp_server() as (smtp_port, inbox):
        async with Databases.migrated(options.database_url, tmp_dir) as databases, databases.copy() as url:
            settings = Settings(
                database_url=url,
                queue_url=options.queue_url,
                queue_name=f"bench-{uuid.uuid4().hex[:8]}",
                base_url=BASE_URL,
                secret_key=secrets.token_urlsafe(32),
                smtp_url=f"smtp://127.0.0.1:{smtp_port}",
                mail_from=SENDER,
                xero_client_id=CLIENT_ID,
                xero_client_secret=stage.client_secret,
                xero_login_base=sandbox_url,
                xero_identity_base=sandbox_url,
                xero_api_base=sandbox_url,
            )
            async with job_queue(settings, tmp_dir) as queue:
                jobs = Jobs(queue)
                app = create_app(settings, queue=queue, run_worker=True)
                asgi: Any = app  # Litestar types its ASGI arguments more narrowly than httpx's plain ASGI callable.
                async with (
                    running(app),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=asgi), base_url=BASE_URL, timeout=options.timeout
                    ) as http,
                ):
                    started = time.perf_counter()
                    linked = await link(settings, stage.sandbox, stage.books)
                    report = await sync_connection(app.state.ledger, linked.connection_id)
                    selection = await open_invoices(linked.workspace_id)
                    print(
                        f"  imported {report.imported:,} invoices through our sync in"
                        f" {seconds(time.perf_counter() - started)}: {selection.invoices:,} open,"
                        f" {len(selection.by_client):,} clients with an email address"
                    )
                    if selection.invoices != options.invoices or len(selection.by_client) != options.clients:
                        raise RuntimeError("the import does not hold the selection this benchmark needs")
                    bench = Bench(
                        http,
                        linked.api_token,
                        inbox,
                        jobs,
                        stage.sandbox,
                        saq_events,
                        options.timeout,
                        options.per_call,
                    )
                    cold, _ = await bench.send("send 1, PDFs not cached", selection)
                    print("\n".join(describe(cold)))
                    warm, arrivals = await bench.send("send 2, PDFs cached", selection)
                    print("\n".join(describe(warm)))

                    messages = [rebuilt(arrival.content) for arrival in arrivals]
                    same = sum(same_bytes(m, a.content) for m, a in zip(messages, arrivals, strict=True))
                    print(f"bare: {len(messages):,} emails of send 2 rebuilt with to_mime; {same:,} byte-identical")
                    del arrivals
                    bare = []
                    for concurrency in (1, WORKER_CONCURRENCY):
                        run = await send_bare(messages, smtp_port, inbox, concurrency)
                        print(f"  {concurrency} at a time: last of {run.messages:,} at {seconds(run.last_message)}")
                        bare.append(run)
    for line in summary(cold, warm, bare, selection.invoices, len(selection.by_client), options.per_call):
        print(line)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bulk_send", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=10_000, help="open invoices to request (default 10000)")
    parser.add_argument("--clients", type=int, default=2_000, help="clients they belong to (default 2000)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server to run against, e.g. postgresql://root@127.0.0.1:5432/test"
        " (a fresh database is created there and dropped); default a SQLite file in a temp directory",
    )
    parser.add_argument(
        "--queue-url",
        default=None,
        help="a Redis (or PostgreSQL) queue server as PORTAL_QUEUE_URL takes it, e.g. redis://127.0.0.1:6379/0;"
        " the run uses a queue name of its own; default the embedded queue",
    )
    parser.add_argument(
        "--per-call",
        type=int,
        default=MAX_INVOICES,
        help=f"invoice ids per send call at most (default {MAX_INVOICES}, the API's cap); a client's invoices are never"
        " split across calls",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for a send's emails (default 600)")
    options = parser.parse_args(argv)
    if options.clients < 1 or options.invoices < options.clients:
        parser.error("need at least one client, and at least one invoice per client")
    if not 0 < options.per_call <= MAX_INVOICES or options.per_call < -(-options.invoices // options.clients):
        parser.error(f"--per-call must be at most {MAX_INVOICES} and hold one client's invoices")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Seed the sandbox, serve it, and benchmark against it."""
    options = parse_args(argv)
    # The sync, the ledger client (httpx) and the SMTP server (aiosmtpd) log info events through the root
    # logger Litestar sets up; keep the console to the benchmark's own lines. SAQ's go to `SaqEvents`.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for name in ("httpx", "mail.log"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    stage = Stage.seed(options.invoices, options.clients)
    database = "PostgreSQL" if options.database_url else "SQLite"
    queue = options.queue_url.split("://")[0] if options.queue_url else "embedded"
    print(
        f"bulk send benchmark: {options.invoices:,} invoices of {options.clients:,} clients, {database},"
        f" {queue} queue, worker concurrency {WORKER_CONCURRENCY}, jobs {DISPATCH.name} → {DELIVER.name}"
        f" (sandbox seeded in {seconds(time.perf_counter() - started)})"
    )
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp, serving(create_sandbox(stage.sandbox)) as url:
        asyncio.run(main_async(options, stage, url, Path(tmp)))


if __name__ == "__main__":
    main()
