"""Fixtures of the fuzz tests: the app's OpenAPI document, a `requests` session into the app, seeded workspaces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import requests
import schemathesis
from litestar import Litestar

from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.fuzz.bridge import app_session
from tests.fuzz.runner import load_schema
from tests.fuzz.seeding import SeededWorkspace, seed_workspace
from tests.helpers import json_of
from tests.stripe_harness import LocalStripe


@pytest.fixture
async def api_schema(client: httpx.AsyncClient) -> schemathesis.BaseSchema:
    """The OpenAPI document the app serves, loaded by Schemathesis."""
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return load_schema(json_of(response.content))


@pytest.fixture
async def app_requests(client: httpx.AsyncClient) -> AsyncIterator[requests.Session]:
    """A `requests` session whose calls reach the in-process app on this test's event loop."""
    with app_session(client, asyncio.get_running_loop()) as session:
        yield session


@pytest.fixture
async def seeded(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> Callable[[str], Awaitable[SeededWorkspace]]:
    """Make a seeded workspace (see `tests.fuzz.seeding`)."""

    async def make(label: str) -> SeededWorkspace:
        return await seed_workspace(client, workspaces, xero, stripe_stand_in, running_app, label=label)

    return make
