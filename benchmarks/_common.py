"""Set-up shared by the benchmarks: a served sandbox, throw-away databases, a linked workspace, console times."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import uvicorn
from litestar import Litestar
from redis.asyncio import Redis
from saq.queue import Queue
from saq.queue.redis import RedisQueue

from core.db import connected, engine_for_url, migrate
from core.queue import EmbeddedRedis, make_queue
from core.security import SecretBox
from core.settings import Settings
from ledger.grants import store_new_grant
from ledger.oauth import exchange_code, new_code_verifier, provider_oauth
from ledger.sandbox.oauth import pkce_challenge
from ledger.sandbox.xero import XeroSandbox
from ledger.sandbox.xero_state import XeroTenant
from ledger.tables import LedgerConnection
from staff.services import create_workspace

CLIENT_ID = "portal-benchmark"
BASE_URL = "http://benchmark.invalid"
"""Only used to form the OAuth redirect URI and emailed links; nothing is served there."""
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
"""The time-outs `core/app.py` gives the app's shared client; a raw client gets the same."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a background thread until the block ends; yields its URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"sandbox on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def on_server(server_url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the PostgreSQL server."""
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@dataclass(frozen=True)
class Databases:
    """A migrated template database, and an identical copy of it for each run.

    Copies rather than one migration per run: the app's index migration runs through
    Piccolo's base `Table`, whose engine is fixed the first time a process migrates, so a
    second `migrate()` in one process would create its indexes in the first database.
    """

    server_url: str | None
    """A PostgreSQL server, or None for SQLite files in `tmp_dir`."""
    tmp_dir: Path
    template: str

    @classmethod
    @asynccontextmanager
    async def migrated(cls, server_url: str | None, tmp_dir: Path) -> AsyncIterator[Databases]:
        """Create and migrate the template; drop it afterwards."""
        template = f"portal_bench_{uuid.uuid4().hex[:12]}"
        databases = cls(server_url, tmp_dir, template)
        if server_url:
            await on_server(server_url, f'CREATE DATABASE "{template}"')
        try:
            engine = engine_for_url(databases.url(template))
            async with connected(engine):
                await migrate(engine)
                if not server_url:
                    await engine.run_ddl("PRAGMA wal_checkpoint(TRUNCATE)")  # the copy must be the whole database
            yield databases
        finally:
            if server_url:
                await on_server(server_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')

    def url(self, name: str) -> str:
        """The URL of database `name`."""
        if self.server_url:
            return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{name}"))
        return f"sqlite:///{self.tmp_dir / name}.sqlite3"

    @asynccontextmanager
    async def copy(self) -> AsyncIterator[str]:
        """A fresh copy of the template, removed afterwards; yields its URL."""
        name = f"{self.template}_{uuid.uuid4().hex[:6]}"
        if not self.server_url:
            shutil.copyfile(self.tmp_dir / f"{self.template}.sqlite3", self.tmp_dir / f"{name}.sqlite3")
            try:
                yield self.url(name)
            finally:
                for leftover in self.tmp_dir.glob(f"{name}.sqlite3*"):  # with its -wal and -shm files
                    leftover.unlink()
            return
        await on_server(self.server_url, f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        try:
            yield self.url(name)
        finally:
            await on_server(self.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Linked:
    """A new workspace's active connection to a sandbox organisation."""

    connection_id: str
    workspace_id: uuid.UUID
    tenant_id: str
    access_token: str
    """The ledger's access token (what a raw ledger client sends)."""
    api_token: str
    """The workspace's bearer token for our own API."""


async def link(settings: Settings, sandbox: XeroSandbox, tenant: XeroTenant) -> Linked:
    """A new workspace connected to `tenant` with real tokens: the sandbox records a consent, we redeem its code."""
    assert settings.secret_key
    created = await create_workspace(
        name="Benchmark Accounting",
        admin_email=f"bench-{uuid.uuid4().hex[:8]}@firm.example",
        admin_password=secrets.token_urlsafe(16),
    )
    workspace_id = uuid.UUID(created.workspace_id)
    oauth = provider_oauth(settings, "xero")
    verifier = new_code_verifier()
    consent = sandbox.consent(oauth.client_id, oauth.scope.split(), [tenant.tenant_id])
    code = sandbox.oauth.issue_code(consent, oauth.redirect_uri, pkce_challenge(verifier))
    tokens = await exchange_code(oauth, code=code, code_verifier=verifier)  # over HTTP, as after a real consent
    grant = await store_new_grant(workspace_id, "xero", tokens, SecretBox(settings.secret_key))
    connection = LedgerConnection(
        workspace=workspace_id,
        provider="xero",
        status="active",
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.name,
        grant=grant.id,
    )
    await connection.save()
    return Linked(str(connection.id), workspace_id, tenant.tenant_id, tokens.access_token, created.api_token)


@asynccontextmanager
async def job_queue(settings: Settings, tmp_dir: Path) -> AsyncIterator[Queue]:
    """The app's SAQ queue: an embedded redis-server, or the given server with this run's own queue name."""
    if settings.queue_url is None:
        server = EmbeddedRedis(tmp_dir / "queue.rdb")
        socket = server.start()
        try:
            yield make_queue(settings, embedded_socket=socket)
        finally:
            server.stop()
        return
    queue = make_queue(settings)
    try:
        yield queue
    finally:
        if isinstance(queue, RedisQueue):  # Finished jobs stay a day under their keys; this run's are of no use.
            redis = Redis.from_url(settings.queue_url)
            try:
                for pattern in (f"saq:{settings.queue_name}:*", f"saq:job:{settings.queue_name}:*"):
                    keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
                    for start in range(0, len(keys), 1000):
                        await redis.delete(*keys[start : start + 1000])
            finally:
                await redis.aclose()


@asynccontextmanager
async def running(app: Litestar) -> AsyncIterator[Litestar]:
    """The app's lifespan (database, queue, in-process worker) held in one task of this loop, as the tests do."""
    started, stopping = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        async with app.lifespan():  # Entered and exited in this one task: the lifespan's cancel scopes demand it.
            started.set()
            await stopping.wait()

    holder = asyncio.create_task(hold_lifespan())
    await asyncio.wait([holder, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        holder.result()  # Start-up failed: raise its error here.
    try:
        yield app
    finally:
        stopping.set()
        await holder


def seconds(value: float) -> str:
    """Wall time for the console."""
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def backends(database_url: str | None, queue_url: str | None) -> str:
    """The database and queue a run uses, for its first line: "PostgreSQL, redis queue"."""
    database = "PostgreSQL" if database_url else "SQLite"
    queue = queue_url.split("://")[0] if queue_url else "embedded"
    return f"{database}, {queue} queue"


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory when it is installed (uvicorn[standard] brings it), else None (asyncio's loop)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
