"""Fixtures shared by every test: settings on the chosen backends, the app, and factories."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from litestar import Litestar
from saq.queue import Queue

from core.app import create_app
from core.db import connected, engine_for_url, migrate
from core.queue import EmbeddedRedis, make_queue
from core.serving import serving
from core.settings import Settings
from ledger.sandbox.quickbooks import QuickBooksSandbox
from ledger.sandbox.quickbooks import create_app as create_quickbooks_sandbox
from ledger.sandbox.xero import XeroSandbox
from ledger.sandbox.xero import create_app as create_xero_sandbox
from staff.schemas import WorkspaceCreated
from staff.services import create_workspace
from tests.backends import fresh_database_url, queue_kind
from tests.mailcatcher import Catcher, mail_server
from tests.stripe_harness import LocalStripe, running_localstripe

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"
BASE_URL = "http://testserver.local"
XERO_CLIENT_ID, XERO_CLIENT_SECRET, XERO_WEBHOOK_KEY = "portal-xero-app", "xero-app-secret", "xero-webhook-key"
QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET = "portal-qbo-app", "qbo-app-secret"
QUICKBOOKS_VERIFIER = "qbo-verifier-token"


@dataclass
class XeroStandIn:
    """The Xero sandbox's state (to seed and inspect) and where it listens."""

    sandbox: XeroSandbox
    url: str


@dataclass
class QuickBooksStandIn:
    """The QuickBooks sandbox's state and where it listens."""

    sandbox: QuickBooksSandbox
    url: str


@pytest.fixture(scope="session")
def embedded_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """The embedded queue server for runs without PORTAL_QUEUE_URL."""
    if queue_kind() != "embedded":
        yield None
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("queue") / "queue.rdb")
    socket = server.start()
    yield socket
    server.stop()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A fresh, migrated database for this test session."""
    async with fresh_database_url(tmp_path_factory.mktemp("db")) as url:
        engine = engine_for_url(url)
        async with connected(engine):
            await migrate(engine)
        yield url


@pytest.fixture(scope="session")
def xero() -> Iterator[XeroStandIn]:
    """The Xero sandbox on a loopback port, with our app registered."""
    sandbox = XeroSandbox(webhook_key=XERO_WEBHOOK_KEY)
    sandbox.register_app(XERO_CLIENT_ID, XERO_CLIENT_SECRET, [f"{BASE_URL}/ledger/callback/xero"])
    with serving(create_xero_sandbox(sandbox)) as url:
        yield XeroStandIn(sandbox=sandbox, url=url)


@pytest.fixture(scope="session")
def quickbooks() -> Iterator[QuickBooksStandIn]:
    """The QuickBooks sandbox on a loopback port, with our app registered."""
    sandbox = QuickBooksSandbox(webhook_verifier=QUICKBOOKS_VERIFIER)
    sandbox.register_app(QUICKBOOKS_CLIENT_ID, QUICKBOOKS_CLIENT_SECRET, [f"{BASE_URL}/ledger/callback/quickbooks"])
    with serving(create_quickbooks_sandbox(sandbox)) as url:
        yield QuickBooksStandIn(sandbox=sandbox, url=url)


@pytest.fixture(scope="session")
def smtp() -> Iterator[tuple[str, Catcher]]:
    """A real SMTP server (aiosmtpd) the app sends through."""
    with mail_server() as server:
        yield server


@pytest.fixture
def mail(smtp: tuple[str, Catcher]) -> Catcher:
    """What the SMTP server received (accepting mail again, if a test refused it)."""
    smtp[1].refuse.clear()
    return smtp[1]


@pytest.fixture(scope="session")
def stripe_stand_in() -> Iterator[LocalStripe]:
    """localstripe, in-process on loopback, with its fake Stripe.js."""
    with running_localstripe() as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    xero: XeroStandIn,
    quickbooks: QuickBooksStandIn,
    smtp: tuple[str, Catcher],
    stripe_stand_in: LocalStripe,
) -> Settings:
    """Settings for the app under test; the queue name is unique so runs never share jobs."""
    return stripe_stand_in.settings(
        Settings(
            database_url=database_url,
            queue_url=os.environ.get("PORTAL_QUEUE_URL") or None,
            queue_name=f"test-{uuid.uuid4().hex[:8]}",
            secret_key=TEST_SECRET,
            base_url=BASE_URL,
            smtp_url=smtp[0],
            mail_from="billing@firm.example",
            xero_client_id=XERO_CLIENT_ID,
            xero_client_secret=XERO_CLIENT_SECRET,
            xero_webhook_key=XERO_WEBHOOK_KEY,
            xero_login_base=xero.url,
            xero_identity_base=xero.url,
            xero_api_base=xero.url,
            quickbooks_client_id=QUICKBOOKS_CLIENT_ID,
            quickbooks_client_secret=QUICKBOOKS_CLIENT_SECRET,
            quickbooks_webhook_verifier=QUICKBOOKS_VERIFIER,
            quickbooks_authorize_url=f"{quickbooks.url}/connect/oauth2",
            quickbooks_token_url=f"{quickbooks.url}/oauth2/v1/tokens/bearer",
            quickbooks_api_base=quickbooks.url,
        )
    )


@pytest.fixture(scope="session")
def queue(settings: Settings, embedded_socket: str | None) -> Queue:
    """The SAQ queue of the app under test."""
    return make_queue(settings, embedded_socket=embedded_socket)


@pytest.fixture(scope="session")
async def app(settings: Settings, queue: Queue) -> Litestar:
    """The app, with its job worker running in-process."""
    return create_app(settings, queue=queue, run_worker=True)


@pytest.fixture(scope="session")
async def running_app(app: Litestar) -> AsyncIterator[Litestar]:
    """The app with its lifespan (pool, queue, worker) started once, on the tests' own event loop.

    Litestar's TestClient runs the app on a loop in another thread; database rows the tests
    create would then share a PostgreSQL pool across loops, so the ASGI transport is used instead.
    """
    started, stopping = asyncio.Event(), asyncio.Event()

    async def hold_lifespan() -> None:
        # Entered and exited in this one task: the lifespan's cancel scopes demand it.
        async with app.lifespan():
            started.set()
            await stopping.wait()

    holder = asyncio.create_task(hold_lifespan())
    await asyncio.wait([holder, asyncio.create_task(started.wait())], return_when=asyncio.FIRST_COMPLETED)
    if holder.done():
        holder.result()  # Start-up failed: raise its error here.
    yield app
    stopping.set()
    await holder


@pytest.fixture
async def client(running_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the running app with its own cookie jar, so every test starts signed out."""
    transport = httpx.ASGITransport(app=running_app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http


class WorkspaceFactory:
    """Creates workspaces with unique admin emails."""

    password = "correct horse battery"

    def __init__(self) -> None:
        self.last_email = ""

    async def create(self, name: str = "Firm") -> tuple[WorkspaceCreated, str]:
        """A workspace and its admin's email (also kept as `last_email`)."""
        email = f"admin-{uuid.uuid4().hex[:8]}@firm.example"
        created = await create_workspace(name=name, admin_email=email, admin_password=self.password)
        self.last_email = email
        return created, email


@pytest.fixture
def workspaces(running_app: Litestar) -> WorkspaceFactory:
    """Factory for workspaces (needs the app's database)."""
    return WorkspaceFactory()
