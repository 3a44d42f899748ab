"""Fixtures shared by the integration tests of one area."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from litestar import Litestar

from tests.collection_helpers import Firm, firm_with_card_factory
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.stripe_harness import LocalStripe


@pytest.fixture
async def firm_with_card(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> Callable[[str], Awaitable[Firm]]:
    """Make a Xero-connected firm with one owed invoice whose client saved the given test card."""
    return await firm_with_card_factory(client, workspaces, xero, stripe_stand_in, running_app)
