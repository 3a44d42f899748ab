"""Fixtures shared by every test: settings on the chosen backends, the app, and factories."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from litestar import Litestar
from saq.queue import Queue

from core.app import create_app
from core.db import connected, engine_for_url, migrate
from core.queue import EmbeddedRedis, make_queue
from core.settings import Settings
from staff.schemas import WorkspaceCreated
from staff.services import create_workspace
from tests.backends import fresh_database_url, queue_kind

TEST_SECRET = "test-secret-key-0123456789abcdef0123456789"


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
def settings(database_url: str) -> Settings:
    """Settings for the app under test; the queue name is unique so runs never share jobs."""
    return Settings(
        database_url=database_url,
        queue_url=os.environ.get("PORTAL_QUEUE_URL") or None,
        queue_name=f"test-{uuid.uuid4().hex[:8]}",
        secret_key=TEST_SECRET,
        base_url="http://testserver.local",
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
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


class WorkspaceFactory:
    """Creates workspaces with unique admin emails."""

    password = "correct horse battery"

    async def create(self, name: str = "Firm") -> tuple[WorkspaceCreated, str]:
        """A workspace and its admin's email."""
        email = f"admin-{uuid.uuid4().hex[:8]}@firm.example"
        created = await create_workspace(name=name, admin_email=email, admin_password=self.password)
        return created, email


@pytest.fixture
def workspaces(running_app: Litestar) -> WorkspaceFactory:
    """Factory for workspaces (needs the app's database)."""
    return WorkspaceFactory()
