"""Requests/s of the client's invoice page against a bare Litestar hello-world: `python -m benchmarks.portal_page`.

One workspace, one client and one sent payment request for N invoices (default 5) are written straight
into a fresh, migrated database. Two apps are then served the same way: each by uvicorn in a process of
its own (one worker, uvloop and httptools as uvicorn picks them, log level warning, no access log), on a
free loopback port:

- portal: `core.app.create_app` from the environment, as `portal serve` builds it (the queue embedded
  unless --queue-url), without the in-process job worker (`benchmarks/_portal_app.py`); or, with
  --as-served, `core.asgi:app_from_environment` itself, worker included when the queue is embedded;
- hello (the baseline): a bare `Litestar([get("/")(hello)])` returning a small HTML string.

The client opens the magic link once (`GET /p/{token}`, 303 and a session cookie), then reloads
`GET /portal/requests/{id}` with the cookies the browser then holds: the hot path of the page. A third
side sends only the session cookie, as a browser without a CSRF cookie yet does: that page is rendered
on every request (its answers set a cookie, so they are never kept). This process generates the load on
loopback with a minimal HTTP/1.1 keep-alive client (asyncio streams on uvloop): C connections, each
sending its next request as soon as the last answer is in, for a fixed time or a fixed count, whichever
ends first. The hello-world gets the same request bytes on `/`. All are warmed up first, then timed in
turns over R rounds (the order flips every round); the summary gives medians.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import re
import secrets
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from benchmarks._common import BASE_URL, Databases, backends, free_port, seconds, uvloop_factory
from core.clock import utcnow
from core.db import bind_engine, connected, engine_for_url
from core.queue import EMBEDDED_SOCKET_ENV, EmbeddedRedis
from core.settings import Settings, env_name
from core.tables import Workspace
from ledger.tables import Client, Invoice
from portal.links import new_link_token
from portal.sessions import COOKIE as CLIENT_COOKIE
from portal.tables import PaymentRequest, PaymentRequestInvoice

ROOT = Path(__file__).resolve().parents[1]
"""The project root: the servers run there, so `benchmarks._portal_app` and `core` import."""
PORTAL_FACTORY = "benchmarks._portal_app:portal_app"
AS_SERVED_FACTORY = "core.asgi:app_from_environment"
HELLO_FACTORY = "benchmarks._portal_app:hello_app"
USER_AGENT = "portal-page-benchmark"
GOAL = 0.4
SIDES = ("hello", "portal", "render")
"""What each round times: the hello-world; the page reloaded (the browser holds its CSRF cookie); the page
rendered on every request (no CSRF cookie yet, as on a first visit, so the answer sets one and is never kept)."""
"""The page should serve at least this share of the hello-world's requests/s."""
INVOICE_ROW = re.compile(rb'data-testid="invoice-row"')
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
SATURATED = 0.9
"""A process busy this share of the wall time had no CPU to spare."""


# ----- set-up: the data, the servers, the signed-in client --------------------------------------------


@dataclass(frozen=True)
class Seeded:
    """The rows a client's page shows, and the token of the link that opens it."""

    token: str
    request_id: str
    numbers: tuple[str, ...]


async def seed(url: str, invoices: int) -> Seeded:
    """One workspace, client and sent request for `invoices` owed invoices (some overdue, some part-paid)."""
    engine = engine_for_url(url)
    bind_engine(engine)
    async with connected(engine):
        workspace = Workspace(name="Benchmark Accounting")
        await workspace.save()
        client = Client(
            workspace=workspace.id,
            source="xero",
            external_id=str(uuid.uuid4()),
            name="Acme Pty Ltd",
            email="ap@acme.example",
        )
        await client.save()
        today = utcnow().date()
        rows = []
        for index in range(invoices):
            total = 12_345 + 1_000 * index
            paid = total // 3 if index % 3 == 1 else 0
            due = today + dt.timedelta(days=14 * index - 20)  # the first two are overdue
            rows.append(
                Invoice(
                    workspace=workspace.id,
                    client=client.id,
                    source="xero",
                    external_id=str(uuid.uuid4()),
                    number=f"INV-{1001 + index:04d}",
                    currency="USD",
                    total_minor=total,
                    amount_paid_minor=paid,
                    amount_due_minor=total - paid,
                    issue_date=due - dt.timedelta(days=30),
                    due_date=due,
                    status="outstanding",
                    ledger_status="AUTHORISED",
                )
            )
        await Invoice.insert(*rows)
        token, digest = new_link_token()
        now = utcnow()
        request = PaymentRequest(
            workspace=workspace.id,
            client=client.id,
            batch_id=str(uuid.uuid4()),
            status="sent",
            subject="Invoices from Benchmark Accounting",
            token_hash=digest,
            sent_at=now,
            link_expires_at=now + dt.timedelta(days=30),
        )
        await request.save()
        await PaymentRequestInvoice.insert(
            *[PaymentRequestInvoice(request=request.id, invoice=invoice.id) for invoice in rows]
        )
    return Seeded(token, str(request.id), tuple(str(invoice.number) for invoice in rows))


@dataclass(frozen=True)
class Server:
    """A uvicorn process serving one app on a loopback port."""

    label: str
    pid: int
    port: int

    @property
    def url(self) -> str:
        """Its origin."""
        return f"http://127.0.0.1:{self.port}"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process and its children (a multi-worker server's) have used so far, from /proc.

    None where there is no /proc.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state is field 3, utime 14 and stime 15
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return own + sum(cpu_seconds(int(child)) or 0.0 for child in children)


def tail(log: Path, lines: int = 30) -> str:
    """The end of a server's log, for an error message."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@asynccontextmanager
async def served(
    label: str, factory: str, env: dict[str, str], log: tuple[Path, IO[bytes]], profile: Path | None = None
) -> AsyncIterator[Server]:
    """`factory` served by uvicorn in a process of its own until the block ends."""
    port = free_port()
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile else []
    command = [sys.executable, *profiler, "-m", "uvicorn", factory, "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    async with spawned(label, command, port, env, log) as server:
        yield server


@asynccontextmanager
async def spawned(
    label: str, command: Sequence[str], port: int, env: dict[str, str], log: tuple[Path, IO[bytes]]
) -> AsyncIterator[Server]:
    """A server process started with `command`, once it accepts connections on `port`; stopped afterwards."""
    log_path, log_file = log
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env, stdout=log_file, stderr=log_file)
    try:
        deadline = time.monotonic() + 60
        while True:  # uvicorn binds its port only once the app's lifespan has started
            if process.returncode is not None:
                raise RuntimeError(f"the {label} server exited with {process.returncode}:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {label} server did not start within 60 s:\n{tail(log_path)}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            break
        yield Server(label, process.pid, port)
    finally:
        if process.returncode is None:
            # SIGINT rather than SIGTERM: uvicorn shuts down the same way, then raises the signal again, and
            # only KeyboardInterrupt lets cProfile (--profile) write its stats on the way out.
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


def server_env(settings: Settings, embedded_socket: str | None) -> dict[str, str]:
    """This process's environment without any portal settings, plus the ones the portal server needs."""
    ours = {env_name(name) for name in Settings.__struct_fields__} | {EMBEDDED_SOCKET_ENV}
    env = {key: value for key, value in os.environ.items() if key not in ours}
    env["PORTAL_DATABASE_URL"] = settings.database_url
    env["PORTAL_SECRET_KEY"] = settings.secret_key or ""
    env["PORTAL_BASE_URL"] = settings.base_url
    env["PORTAL_QUEUE_NAME"] = settings.queue_name
    if settings.queue_url:
        env["PORTAL_QUEUE_URL"] = settings.queue_url
    if embedded_socket:
        env[EMBEDDED_SOCKET_ENV] = embedded_socket
    return env


@dataclass(frozen=True)
class SignedIn:
    """The page a client lands on after opening the link, and the cookies their browser then sends."""

    path: str
    cookie: str
    session_cookie: str
    """Only the client's session cookie, as a browser sends it before it has a CSRF cookie."""
    rows: int
    page_bytes: int


async def sign_in(server: Server, seeded: Seeded) -> SignedIn:
    """Open the magic link as a browser does; check the page it leads to shows every invoice."""
    async with httpx.AsyncClient(base_url=server.url, headers={"User-Agent": USER_AGENT}, timeout=20) as http:
        opened = await http.get(f"/p/{seeded.token}")
        location = opened.headers.get("location", "")
        if opened.status_code != 303 or location != f"/portal/requests/{seeded.request_id}":
            raise RuntimeError(f"the magic link answered {opened.status_code} (Location {location!r})")
        page = await http.get(location)
        if page.status_code != 200:
            raise RuntimeError(f"the page answered {page.status_code}: {page.text[:500]}")
        missing = [number for number in seeded.numbers if number not in page.text]
        if missing:
            raise RuntimeError(f"the page does not show invoices {', '.join(missing)}")
        cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        session_cookie = f"{CLIENT_COOKIE}={http.cookies[CLIENT_COOKIE]}"
        return SignedIn(location, cookie, session_cookie, len(INVOICE_ROW.findall(page.content)), len(page.content))


# ----- the load generator ------------------------------------------------------------------------------


@dataclass
class Load:
    """One timed stretch of requests to one server."""

    label: str
    ok: int = 0
    errors: int = 0
    first_error: str | None = None
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """Seconds from writing a request to reading the end of its answer, for every answer."""
    body_bytes: int = 0
    """Size of the last 200 answer's body."""
    loader_cpu: float | None = None
    """Share of the wall time this process spent on the CPU."""
    server_cpu: float | None = None
    """Share of the wall time the server process spent on the CPU."""

    @property
    def rate(self) -> float:
        """Successful answers per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        """A latency percentile, in seconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]

    def error(self, message: str) -> None:
        """Count an error; keep the first one to show."""
        self.errors += 1
        if self.first_error is None:
            self.first_error = message


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, int, bool]:
    """Send one request and read its whole answer: `(status, body bytes, server closes the connection)`."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = b"close" in value.lower()
    if length is not None:
        await reader.readexactly(length)
        return status, length, close
    if chunked:
        size = 0
        while True:
            chunk = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(chunk + 2)
            size += chunk
            if chunk == 0:
                return status, size, close
    body = await reader.read()  # no length, not chunked: the body ends with the connection
    return status, len(body), True


async def drive(
    server: Server,
    request: bytes | Callable[[], bytes],
    *,
    connections: int,
    duration: float,
    max_requests: int,
    label: str,
) -> Load:
    """`connections` keep-alive connections, each sending `request` again as soon as the answer is in.

    `request` is the bytes to send each time, or a function returning the next request's bytes (for
    requests that must differ, such as webhook events with ids of their own).
    """
    load = Load(label)
    next_request = request if callable(request) else lambda: request
    streams = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(connections)]
    issued = 0

    async def connection(index: int) -> None:
        nonlocal issued
        reader, writer = streams[index]
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            sent = time.perf_counter()
            try:
                status, size, close = await exchange(reader, writer, next_request())
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                load.error(f"{type(error).__name__}: {error}")
                close = True
            else:
                load.latencies.append(time.perf_counter() - sent)
                if status == 200:
                    load.ok += 1
                    load.body_bytes = size
                else:
                    load.error(f"HTTP {status}")
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            streams[index] = reader, writer

    server_before, loader_before = cpu_seconds(server.pid), time.process_time()
    started = time.perf_counter()
    deadline = started + duration
    try:  # a server that stops answering fails the run rather than hanging it
        await asyncio.wait_for(asyncio.gather(*(connection(index) for index in range(connections))), duration + 60)
    except TimeoutError:
        raise RuntimeError(f"the {server.label} server stopped answering") from None
    load.seconds = time.perf_counter() - started
    server_after, loader_after = cpu_seconds(server.pid), time.process_time()
    for _, writer in streams:
        writer.close()
    load.loader_cpu = (loader_after - loader_before) / load.seconds
    if server_before is not None and server_after is not None:
        load.server_cpu = (server_after - server_before) / load.seconds
    return load


def request_bytes(server: Server, path: str, cookie: str) -> bytes:
    """The GET a browser reloading the page sends, give or take a few headers."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUser-Agent: {USER_AGENT}\r\n"
        f"Accept: text/html\r\nAccept-Encoding: identity\r\nCookie: {cookie}\r\n\r\n"
    ).encode()


# ----- reporting ---------------------------------------------------------------------------------------


def ms(value: float) -> str:
    """A latency for the console."""
    return f"{value * 1000:.1f} ms"


def share(value: float | None) -> str:
    """A CPU share for the console."""
    return "n/a" if value is None else f"{value:.0%}"


def describe(load: Load) -> str:
    """One side of a round."""
    errors = f"{load.errors} errors" + (f" (first: {load.first_error})" if load.first_error else "")
    return (
        f"{load.label} {load.rate:8,.0f} req/s ({load.ok:,} in {seconds(load.seconds)}; p50 {ms(load.percentile(0.5))},"
        f" p95 {ms(load.percentile(0.95))}; {errors}; CPU server {share(load.server_cpu)},"
        f" loader {share(load.loader_cpu)})"
    )


def median(values: Sequence[float]) -> float:
    """The median, or nan for nothing."""
    return statistics.median(values) if values else float("nan")


def cpu_per_answer(loads: Sequence[Load]) -> list[float]:
    """Microseconds of server CPU per successful answer, per stretch: steadier than req/s on a shared machine."""
    return [load.server_cpu * load.seconds / load.ok * 1e6 for load in loads if load.server_cpu is not None and load.ok]


def summary(rounds: Sequence[Mapping[str, Load]], page: SignedIn, connections: int) -> list[str]:
    """The result block: medians of each side, the ratio against its goal, and what limited the baseline."""

    def row(label: str, value: str) -> str:
        return f"  {label:<30}{value}"

    hellos, portals, rendered = ([round_[side] for round_ in rounds] for side in SIDES)
    label = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "1 round"
    lines = [f"result ({label}, {connections} connections each):"]
    for name, loads in (("hello-world", hellos), ("portal page", portals), ("page rendered", rendered)):
        rate = median([load.rate for load in loads])
        p50, p95 = (median([load.percentile(q) for load in loads]) for q in (0.5, 0.95))
        errors = sum(load.errors for load in loads)
        lines.append(row(name, f"{rate:8,.0f} req/s, p50 {ms(p50)}, p95 {ms(p95)}, {errors} errors"))
    lines.append(row("bodies", f"hello {hellos[-1].body_bytes:,} bytes, page {portals[-1].body_bytes:,} bytes"))
    lines.append(row("page shows", f"{page.rows} invoice rows"))
    ratio = median([round_["portal"].rate / round_["hello"].rate for round_ in rounds if round_["hello"].rate])
    lines.append(row(f"portal/hello (goal >= {GOAL})", f"{ratio:.3f} ({'met' if ratio >= GOAL else 'NOT MET'})"))
    rendered_ratio = median([round_["render"].rate / round_["hello"].rate for round_ in rounds if round_["hello"].rate])
    lines.append(row("rendered/hello (no goal)", f"{rendered_ratio:.3f}"))
    cpu = {side: median(cpu_per_answer(loads)) for side, loads in zip(SIDES, (hellos, portals, rendered), strict=True)}
    if all(value == value for value in cpu.values()):  # not nan: /proc was there
        hello_cpu = cpu["hello"]
        lines.append(
            row(
                "server CPU per answer",
                f"hello {hello_cpu:,.0f} us, portal {cpu['portal']:,.0f} us (ratio {hello_cpu / cpu['portal']:.3f}),"
                f" rendered {cpu['render']:,.0f} us (ratio {hello_cpu / cpu['render']:.3f})",
            )
        )
    loader_bound = [h for h in hellos if (h.loader_cpu or 0) >= SATURATED and (h.server_cpu or 1) < SATURATED]
    if loader_bound:
        lines.append(
            f"  note: in {len(loader_bound)} of {len(hellos)} hello rounds the load generator, not the server, was"
            " busiest: the hello-world figure is then a floor and the ratio a ceiling"
        )
    return lines


# ----- driver ------------------------------------------------------------------------------------------


@asynccontextmanager
async def queue_for(options: argparse.Namespace, tmp_dir: Path) -> AsyncIterator[str | None]:
    """The embedded queue server (yields its socket) unless a queue URL was given (yields None)."""
    if options.queue_url:
        yield None
        return
    server = EmbeddedRedis(tmp_dir / "queue.rdb")
    socket = server.start()
    try:
        yield socket
    finally:
        server.stop()


async def main_async(options: argparse.Namespace, tmp_dir: Path, logs: Mapping[str, tuple[Path, IO[bytes]]]) -> None:
    """Seed, serve both apps, sign in, warm up, time the rounds, report."""
    drive_options: dict[str, Any] = {"connections": options.connections, "max_requests": options.max_requests}
    async with (
        Databases.migrated(options.database_url, tmp_dir) as databases,
        queue_for(options, tmp_dir) as embedded_socket,
    ):
        url = databases.url(databases.template)
        seeded = await seed(url, options.invoices)
        settings = Settings(
            database_url=url,
            queue_url=options.queue_url,
            queue_name=f"bench-{uuid.uuid4().hex[:8]}",
            base_url=BASE_URL,
            secret_key=secrets.token_urlsafe(32),
        )
        factory = AS_SERVED_FACTORY if options.as_served else PORTAL_FACTORY
        env = server_env(settings, embedded_socket)
        async with (
            served("hello", HELLO_FACTORY, env, logs["hello"]) as hello,
            served("portal", factory, env, logs["portal"], options.profile) as portal,
        ):
            page = await sign_in(portal, seeded)
            requests = {
                "hello": (hello, request_bytes(hello, "/", page.cookie)),
                "portal": (portal, request_bytes(portal, page.path, page.cookie)),
                "render": (portal, request_bytes(portal, page.path, page.session_cookie)),
            }
            print(
                f"  served: hello {HELLO_FACTORY} on :{hello.port}, portal {factory} on :{portal.port};"
                f" page {page.path} ({page.page_bytes:,} bytes, {page.rows} invoice rows)"
            )

            def side(name: str, duration: float) -> Callable[[], Coroutine[Any, Any, Load]]:
                server, request = requests[name]
                label = f"{name:<6}"
                return lambda: drive(server, request, duration=duration, label=label, **drive_options)

            for name in SIDES:
                warm = await side(name, options.warmup)()
                print(f"  warm-up {describe(warm)}")
            rounds: list[dict[str, Load]] = []
            for index in range(options.rounds):
                order = SIDES if index % 2 == 0 else SIDES[::-1]
                loads = {name: await side(name, options.seconds)() for name in order}
                rounds.append(loads)
                hello_rate = loads["hello"].rate or float("nan")
                print(
                    f"round {index + 1} (first: {order[0]}), portal/hello {loads['portal'].rate / hello_rate:.3f},"
                    f" rendered/hello {loads['render'].rate / hello_rate:.3f}"
                )
                for name in SIDES:
                    print(f"  {describe(loads[name])}")
    for line in summary(rounds, page, options.connections):
        print(line)
    if options.profile:
        print(f"portal server profile written to {options.profile} (cProfile; the figures above include its cost)")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.portal_page", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=5, help="invoices on the request's page (default 5)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each timed stretch (default 5)")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="each stretch stops after this many requests (default 200000)"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported (default 3)")
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
        "--as-served",
        action="store_true",
        help=f"serve {AS_SERVED_FACTORY} as `portal serve` does (its job worker runs in the server when the queue"
        " is embedded) instead of the app without a worker",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run the portal server under cProfile and write its stats to this file (slows the page down)",
    )
    options = parser.parse_args(argv)
    if options.invoices < 1 or options.connections < 1 or options.rounds < 1 or options.max_requests < 1:
        parser.error("--invoices, --connections, --rounds and --max-requests must be at least 1")
    if options.seconds <= 0 or options.warmup <= 0:
        parser.error("--seconds and --warmup must be positive")
    if options.profile:
        options.profile = options.profile.resolve()
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark on a fresh database, on uvloop when it is installed (uvicorn[standard] brings it)."""
    options = parse_args(argv)
    print(
        f"portal page benchmark: {options.invoices} invoices, {backends(options.database_url, options.queue_url)},"
        f" {options.connections} connections, {options.rounds} rounds of {options.seconds:g} s per side"
        f" after {options.warmup:g} s warm-up"
    )
    loop_factory = uvloop_factory()
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp, contextlib.ExitStack() as stack:
        tmp_dir = Path(tmp)
        logs = {
            name: (tmp_dir / f"{name}.log", stack.enter_context((tmp_dir / f"{name}.log").open("wb")))
            for name in ("hello", "portal")
        }
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main_async(options, tmp_dir, logs))


if __name__ == "__main__":
    main()
