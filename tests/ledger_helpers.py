"""Driving a ledger connection the way a person does: API call, consent page, callback."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import uuid
from collections.abc import Sequence
from urllib.parse import urlencode, urlsplit

import httpx

from ledger.sandbox.seed import SeedData, synthetic_seed
from tests.helpers import auth, json_of

_INPUT = re.compile(r"<input ([^>]*)>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


def consent_form(page: str, choose: Sequence[str]) -> tuple[str, list[tuple[str, str]]]:
    """The consent form's action and fields, with only the `choose`n organisations ticked."""
    action = html.unescape(_ACTION.search(page).group(1))  # type: ignore[union-attr]
    fields: list[tuple[str, str]] = []
    for raw in _INPUT.findall(page):
        attrs = {key: html.unescape(value) for key, value in _ATTR.findall(raw)}
        chosen = attrs.get("type") in ("checkbox", "radio") and attrs.get("value") in choose
        if attrs.get("type") == "hidden" or chosen:
            fields.append((attrs["name"], attrs["value"]))
    fields.append(("decision", "allow"))
    return action, fields


async def connect_ledger(
    client: httpx.AsyncClient, token: str, provider: str, stand_in_url: str, choose: Sequence[str]
) -> httpx.Response:
    """Start a connection through the API, consent in the sandbox, and follow the redirect to our callback."""
    started = await client.post("/api/v1/ledger-connections", json={"provider": provider}, headers=auth(token))
    assert started.status_code == 201, started.text
    authorize_url = json_of(started.content)["authorize_url"]
    assert authorize_url.startswith(stand_in_url)
    async with httpx.AsyncClient() as browser:
        page = await browser.get(authorize_url)
        assert page.status_code == 200
        action, fields = consent_form(page.text, choose)
        target = action if action.startswith("http") else stand_in_url + action
        decision = await browser.post(
            target,
            content=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    assert decision.status_code in (302, 303), decision.text
    callback = urlsplit(decision.headers["location"])
    return await client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def recent_invoices(n: int, today: dt.date, *, seed: int = 7) -> SeedData:
    """`n` unpaid invoices all dated within the first-import window (the last 90 days)."""
    data = synthetic_seed(n, today=today, seed=seed)
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
