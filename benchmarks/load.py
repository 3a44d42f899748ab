"""Load on the deployed app, as ratios to its health endpoint: `python -m benchmarks.load`.

The app runs as production runs it: `portal serve --workers 2` (two uvicorn worker processes, access log
on) over PostgreSQL and Redis by default, against a fresh migrated database holding

- one firm with N invoices (default 100,000) of C clients, as `benchmarks/outstanding_list.py` writes them,
  whose staff member is signed in and whose API token is known;
- one client with a sent payment request for five invoices, whose magic link has been opened
  (`benchmarks/portal_page.py`'s seed).

This process then generates load on loopback with the keep-alive client of `benchmarks/portal_page.py`
(C connections, each sending its next request as soon as the answer is in), one target at a time:

- health (the baseline): `GET /api/v1/health`, one query and one queue ping;
- portal page: the client reloading `GET /portal/requests/{id}` with its session cookie;
- Outstanding list, API: `GET /api/v1/invoices` with the bearer token (first page of 50, with the filter's
  count and per-currency totals over the 100,000 invoices);
- Outstanding list, page: `GET /staff/collections` with the staff session;
- Stripe webhook: `POST /webhooks/stripe`, every request a new, correctly signed
  `payment_intent.succeeded` event (its own event id) for an intent the firm does not know: the signature
  check, the event-id insert and the payment lookup, as for Stripe's traffic that is not ours.

Each round times every target for S seconds, health first, and each target's p50 and p95 latency are
divided by health's in the same round; the summary gives medians over the rounds. Errors are answers
other than 200 and broken connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from benchmarks._common import BASE_URL, Databases, backends, free_port, seconds, uvloop_factory
from benchmarks.outstanding_list import sign_in as staff_sign_in
from benchmarks.outstanding_list import write_book
from benchmarks.portal_page import (
    USER_AGENT,
    Load,
    Server,
    describe,
    drive,
    median,
    ms,
    queue_for,
    seed,
    server_env,
    sign_in,
    spawned,
)
from core.clock import utcnow
from core.db import bind_engine, connected, engine_for_url
from core.settings import Settings
from staff.services import create_workspace

WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)
"""This run's Stripe webhook secret: the server checks the events this process signs with it."""


@dataclass(frozen=True)
class Target:
    """One endpoint under load, and how to make its next request."""

    key: str
    """Its name for --only."""
    label: str
    make_request: Callable[[], bytes]


@dataclass(frozen=True)
class Prepared:
    """The signed-in client, staff member and API token the targets use."""

    portal_path: str
    portal_cookie: str
    staff_cookie: str
    api_token: str
    outstanding: int


def http_get(server: Server, path: str, headers: Mapping[str, str]) -> bytes:
    """A keep-alive GET as a browser or API client sends it."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def stripe_event(server: Server) -> bytes:
    """A new `payment_intent.succeeded` event for an intent nobody knows, signed as Stripe signs it."""
    intent = f"pi_{secrets.token_hex(12)}"
    event = {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {"object": {"id": intent, "object": "payment_intent", "status": "succeeded", "metadata": {}}},
    }
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    head = (
        f"POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nUser-Agent: Stripe/1.0\r\n"
        f"Content-Type: application/json; charset=utf-8\r\nStripe-Signature: t={timestamp},v1={digest}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def targets(server: Server, prepared: Prepared) -> list[Target]:
    """Health first (the baseline), then the endpoints the issue names."""
    html = {"Accept": "text/html", "Accept-Encoding": "identity"}
    api = {"Accept": "application/json", "Authorization": f"Bearer {prepared.api_token}"}
    health = http_get(server, "/api/v1/health", {"Accept": "application/json"})
    portal = http_get(server, prepared.portal_path, {**html, "Cookie": prepared.portal_cookie})
    api_list = http_get(server, "/api/v1/invoices", api)
    staff_list = http_get(server, "/staff/collections", {**html, "Cookie": prepared.staff_cookie})
    return [
        Target("health", "health", lambda: health),
        Target("portal", "portal page", lambda: portal),
        Target("api-list", "Outstanding list, API", lambda: api_list),
        Target("staff-list", "Outstanding list, page", lambda: staff_list),
        Target("webhook", "Stripe webhook", lambda: stripe_event(server)),
    ]


async def prepare(server: Server, url: str, options: argparse.Namespace) -> Prepared:
    """Write the firm's book and the client's request, open the magic link, sign the staff member in."""
    engine = engine_for_url(url)
    bind_engine(engine)
    email, password = f"load-{uuid.uuid4().hex[:8]}@firm.example", secrets.token_urlsafe(16)
    async with connected(engine):
        created = await create_workspace(name="Load Test Accounting", admin_email=email, admin_password=password)
        started = time.perf_counter()
        book = await write_book(uuid.UUID(created.workspace_id), options.invoices, options.clients, utcnow().date())
    print(
        f"  wrote {options.invoices:,} invoices of {options.clients:,} clients in"
        f" {seconds(time.perf_counter() - started)}: {book.outstanding:,} outstanding"
    )
    seeded = await seed(url, 5)
    page = await sign_in(server, seeded)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        await staff_sign_in(http, email, password)
        staff_cookie = "; ".join(f"{name}={value}" for name, value in http.cookies.items())
        first = await http.get("/api/v1/invoices", headers={"Authorization": f"Bearer {created.api_token}"})
        if first.status_code != 200 or first.json()["total_count"] != book.outstanding:
            raise RuntimeError(f"the Outstanding list answered {first.status_code}: {first.text[:300]}")
    return Prepared(page.path, page.cookie, staff_cookie, created.api_token, book.outstanding)


async def until_healthy(server: Server, seconds_: float = 60) -> None:
    """Wait for every worker process to answer: the port accepts connections before their lifespans finish."""
    deadline = time.monotonic() + seconds_
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as http:
        healthy = 0
        while healthy < 10:  # a few answers in a row, so both workers are likely up
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not become healthy")
            try:
                healthy = healthy + 1 if (await http.get("/api/v1/health")).status_code == 200 else 0
            except httpx.HTTPError:
                healthy = 0
            await asyncio.sleep(0.1 if healthy == 0 else 0.01)


def error_rate(load: Load) -> float:
    """Errors as a share of all answers and broken connections."""
    total = load.ok + load.errors
    return load.errors / total if total else 0.0


def ratio(value: float, baseline: float) -> float:
    """`value / baseline`, nan without a baseline."""
    return value / baseline if baseline else float("nan")


def summary(rounds: Sequence[dict[str, Load]], connections: int) -> list[str]:
    """Per target: medians of req/s, p50 and p95, their ratios to health's in the same round, the error rate."""
    lines = [f"result (median of {len(rounds)} rounds, {connections} connections, 2 server workers):"]
    header = (
        f"  {'target':<24}{'req/s':>8}{'p50':>10}{'p95':>10}{'p50/health':>12}{'p95/health':>12}"
        f"{'req/s / health':>16}{'errors':>9}"
    )
    lines.append(header)
    for label in rounds[0]:
        loads = [round_[label] for round_ in rounds]
        healths = [round_["health"] for round_ in rounds]
        p50 = median([load.percentile(0.5) for load in loads])
        p95 = median([load.percentile(0.95) for load in loads])
        pairs = list(zip(loads, healths, strict=True))
        p50_ratio = median([ratio(load.percentile(0.5), health.percentile(0.5)) for load, health in pairs])
        p95_ratio = median([ratio(load.percentile(0.95), health.percentile(0.95)) for load, health in pairs])
        rate_ratio = median([ratio(load.rate, health.rate) for load, health in pairs])
        errors = sum(load.errors for load in loads)
        answers = sum(load.ok + load.errors for load in loads)
        lines.append(
            f"  {label:<24}{median([load.rate for load in loads]):>8,.0f}{ms(p50):>10}{ms(p95):>10}"
            f"{p50_ratio:>12.2f}{p95_ratio:>12.2f}{rate_ratio:>16.3f}{errors / answers if answers else 0:>9.2%}"
        )
    return lines


async def main_async(options: argparse.Namespace, tmp_dir: Path, log: tuple[Path, IO[bytes]]) -> None:
    """Set up, serve with `portal serve --workers N`, load each target in turn, report."""
    async with (
        Databases.migrated(options.database_url, tmp_dir) as databases,
        queue_for(options, tmp_dir) as embedded_socket,
    ):
        url = databases.url(databases.template)
        settings = Settings(
            database_url=url,
            queue_url=options.queue_url,
            queue_name=f"load-{uuid.uuid4().hex[:8]}",
            base_url=BASE_URL,
            secret_key=secrets.token_urlsafe(32),
        )
        env = server_env(settings, embedded_socket)
        # Stripe is never called: the events are for intents the firm does not know.
        env |= {"STRIPE_SECRET_KEY": "sk_test_load", "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
        port = free_port()
        portal = Path(sys.executable).with_name("portal")
        command = [str(portal), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(options.workers)]
        async with spawned("portal", command, port, env, log) as server:
            await until_healthy(server)
            prepared = await prepare(server, url, options)
            print(f"  served: portal serve --workers {options.workers} on :{port}")
            chosen = [target for target in targets(server, prepared) if not options.only or target.key in options.only]

            async def timed(target: Target, duration: float) -> Load:
                return await drive(
                    server,
                    target.make_request,
                    connections=options.connections,
                    duration=duration,
                    max_requests=options.max_requests,
                    label=f"{target.label:<24}",
                )

            for target in chosen:
                print(f"  warm-up {describe(await timed(target, options.warmup))}")
            rounds: list[dict[str, Load]] = []
            for index in range(options.rounds):
                rest = chosen[1:]
                shift = index % len(rest) if rest else 0
                order = [chosen[0], *rest[shift:], *rest[:shift]]  # health first, the rest taking turns
                round_ = {target.label: await timed(target, options.seconds) for target in order}
                rounds.append({target.label: round_[target.label] for target in chosen})
                print(f"round {index + 1}")
                for load in round_.values():
                    print(f"  {describe(load)}")
    for line in summary(rounds, options.connections):
        print(line)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=100_000, help="invoices of the firm (default 100000)")
    parser.add_argument("--clients", type=int, default=5_000, help="clients they are dealt to (default 5000)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (default 16)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each timed stretch (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds; medians are reported (default 3)")
    parser.add_argument(
        "--max-requests", type=int, default=1_000_000, help="each stretch stops after this many requests"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        choices=["portal", "api-list", "staff-list", "webhook"],
        help="time only this target (repeatable); health is always timed",
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://root@127.0.0.1:5432/test",
        help="a PostgreSQL server (a fresh database is created there and dropped), or 'sqlite' for a SQLite file"
        " (default postgresql://root@127.0.0.1:5432/test)",
    )
    parser.add_argument(
        "--queue-url",
        default="redis://127.0.0.1:6379/0",
        help="a Redis queue server as PORTAL_QUEUE_URL takes it, or 'embedded' (default redis://127.0.0.1:6379/0)",
    )
    options = parser.parse_args(argv)
    if min(options.invoices, options.clients, options.workers, options.connections, options.rounds) < 1:
        parser.error("--invoices, --clients, --workers, --connections and --rounds must be at least 1")
    if options.seconds <= 0 or options.warmup <= 0:
        parser.error("--seconds and --warmup must be positive")
    if options.database_url == "sqlite":
        options.database_url = None
    if options.queue_url == "embedded":
        options.queue_url = None
    if options.only:
        options.only = ["health", *options.only]
    return options


def main(argv: Sequence[str] | None = None) -> None:
    """Run the load on a fresh database, on uvloop when it is installed."""
    options = parse_args(argv)
    print(
        f"load benchmark: {options.invoices:,} invoices, {backends(options.database_url, options.queue_url)},"
        f" {options.workers} server workers, {options.connections} connections,"
        f" {options.rounds} rounds of {options.seconds:g} s per target"
    )
    loop_factory = uvloop_factory()
    with tempfile.TemporaryDirectory(prefix="portal-load-") as tmp, contextlib.ExitStack() as stack:
        tmp_dir = Path(tmp)
        log = (tmp_dir / "server.log", stack.enter_context((tmp_dir / "server.log").open("wb")))
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(main_async(options, tmp_dir, log))


if __name__ == "__main__":
    main()
