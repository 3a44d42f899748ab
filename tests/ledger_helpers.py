"""Driving a ledger connection the way a person does: API call, consent page, callback."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from ledger.sandbox.consent import approve
from ledger.sandbox.seed import SeedData, synthetic_seed
from tests.helpers import auth, json_of


async def connect_ledger(
    client: httpx.AsyncClient, token: str, provider: str, stand_in_url: str, choose: Sequence[str]
) -> httpx.Response:
    """Start a connection through the API, consent in the sandbox, and follow the redirect to our callback."""
    started = await client.post("/api/v1/ledger-connections", json={"provider": provider}, headers=auth(token))
    assert started.status_code == 201, started.text
    authorize_url = json_of(started.content)["authorize_url"]
    assert authorize_url.startswith(stand_in_url)
    redirect = await asyncio.to_thread(approve, authorize_url, choose=choose)
    callback = urlsplit(redirect)
    return await client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def recent_invoices(n: int, today: dt.date, *, seed: int = 7, clients: int | None = None) -> SeedData:
    """`n` unpaid invoices all dated within the first-import window (the last 90 days), over `clients` clients."""
    data = synthetic_seed(n, today=today, seed=seed, clients=clients)
    invoices = tuple(
        dataclasses.replace(
            invoice,
            number=f"T{uuid.uuid4().hex[:6]}-{index}",
            issue_date=today - dt.timedelta(days=index % 80),
            due_date=today - dt.timedelta(days=index % 80) + dt.timedelta(days=30),
            status="AUTHORISED",
            paid_minor=0,
        )
        for index, invoice in enumerate(data.invoices)
    )
    return SeedData(data.clients, invoices)
