"""Connecting Xero and importing its unpaid sales invoices, end to end against the sandbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from core.clock import utcnow
from ledger.sandbox.seed import demo_seed
from ledger.sandbox.xero import invoice_webhook
from ledger.sandbox.xero_state import XeroTenant
from ledger.tables import LedgerConnection, LedgerGrant
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth, json_of
from tests.ledger_helpers import connect_ledger, recent_invoices

INVOICE_LIST = "/api.xro/2.0/Invoices"


async def wait_for_sync(client: httpx.AsyncClient, token: str, *, after: str | None = None) -> dict[str, Any]:
    """The workspace's first connection once it has synced (after `after`, when given)."""
    for _ in range(300):
        listing = json_of((await client.get("/api/v1/ledger-connections", headers=auth(token))).content)
        items = [item for item in listing["items"] if item["status"] == "active"]
        if items and items[0]["last_synced_at"] and items[0]["last_synced_at"] != after:
            return dict(items[0])
        await asyncio.sleep(0.05)
    raise AssertionError(f"no sync finished: {listing}")


def list_calls(xero: XeroStandIn, tenant: XeroTenant) -> int:
    """Invoice list calls the sandbox served for one organisation."""
    return sum(
        1
        for entry in xero.sandbox.log.matching("GET", INVOICE_LIST)
        if entry.headers.get("xero-tenant-id") == tenant.tenant_id
    )


async def connected_workspace(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, tenant: XeroTenant
) -> tuple[str, dict[str, Any]]:
    created, _ = await workspaces.create()
    callback = await connect_ledger(client, created.api_token, "xero", xero.url, [tenant.tenant_id])
    assert callback.status_code == 303
    assert callback.headers["location"] == "/staff/collections?connected=1"
    return created.api_token, await wait_for_sync(client, created.api_token)


async def test_connect_through_consent_imports_outstanding_invoices(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    today = xero.sandbox.clock.today()
    tenant = xero.sandbox.add_tenant("Consent Test Ltd", base_currency="USD")
    xero.sandbox.add_tenant("Another Org The User Did Not Pick")
    xero.sandbox.load_seed(tenant.tenant_id, demo_seed(today))
    token, connection = await connected_workspace(client, workspaces, xero, tenant)

    assert connection["provider"] == "xero"
    assert connection["tenant_id"] == tenant.tenant_id
    assert connection["tenant_name"] == "Consent Test Ltd"
    listing = json_of((await client.get("/api/v1/ledger-connections", headers=auth(token))).content)
    assert [item["tenant_id"] for item in listing["items"]] == [tenant.tenant_id]

    window = today - dt.timedelta(days=90)
    expected = {
        inv.invoice_id
        for inv in tenant.invoices.values()
        if inv.type == "ACCREC" and inv.status == "AUTHORISED" and inv.issue_date >= window and inv.due_minor > 0
    }
    invoices = json_of((await client.get("/api/v1/invoices?limit=500", headers=auth(token))).content)
    assert {item["external_id"] for item in invoices["items"]} == expected
    assert invoices["total_count"] == len(expected)
    currencies = {total["currency"] for total in invoices["totals"]}
    assert currencies == {tenant.invoices[i].currency for i in expected}
    jpy = [item for item in invoices["items"] if item["currency"] == "JPY"]
    for item in jpy:
        assert item["amount_due"] == tenant.invoices[item["external_id"]].due_minor


async def test_first_import_of_2500_takes_3_list_calls_and_an_unchanged_resync_1(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Big Book Ltd")
    xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(2500, xero.sandbox.clock.today()))
    token, connection = await connected_workspace(client, workspaces, xero, tenant)

    assert list_calls(xero, tenant) == 3
    outstanding = json_of((await client.get("/api/v1/invoices?limit=1", headers=auth(token))).content)
    assert outstanding["total_count"] == 2500

    synced = await client.post(f"/api/v1/ledger-connections/{connection['id']}/sync", headers=auth(token))
    assert synced.status_code == 202
    resynced = await wait_for_sync(client, token, after=connection["last_synced_at"])
    assert list_calls(xero, tenant) == 4
    assert resynced["import_report"]["updated"] == 0
    assert resynced["import_report"]["imported"] == 0
    assert resynced["import_report"]["ledger_calls"] == 1


async def test_a_429_mid_sync_still_completes(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Throttled Ltd")
    xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(1500, xero.sandbox.clock.today(), seed=11))
    xero.sandbox.fail_next(1, status=429, retry_after=1, path_prefix=INVOICE_LIST)
    token, _ = await connected_workspace(client, workspaces, xero, tenant)
    outstanding = json_of((await client.get("/api/v1/invoices?limit=1", headers=auth(token))).content)
    assert outstanding["total_count"] == 1500
    assert list_calls(xero, tenant) == 3  # the refused call, then pages 1 and 2


async def test_paid_in_ledger_invoice_leaves_outstanding_after_a_signed_webhook(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Webhook Ltd")
    [invoice, *_] = xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(3, xero.sandbox.clock.today(), seed=3))
    token, _ = await connected_workspace(client, workspaces, xero, tenant)
    before = json_of((await client.get("/api/v1/invoices", headers=auth(token))).content)
    assert invoice.invoice_id in {item["external_id"] for item in before["items"]}

    xero.sandbox.mark_paid(invoice.invoice_id)
    body, signature = invoice_webhook(xero.sandbox, [invoice.invoice_id])
    bad = await client.post("/webhooks/xero", content=body, headers={"x-xero-signature": "AAAA" + signature[4:]})
    assert bad.status_code == 401
    await asyncio.sleep(0.3)
    unchanged = json_of((await client.get("/api/v1/invoices", headers=auth(token))).content)
    assert invoice.invoice_id in {item["external_id"] for item in unchanged["items"]}

    good = await client.post("/webhooks/xero", content=body, headers={"x-xero-signature": signature})
    assert good.status_code == 200
    for _ in range(200):
        after = json_of((await client.get("/api/v1/invoices", headers=auth(token))).content)
        if invoice.invoice_id not in {item["external_id"] for item in after["items"]}:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the paid invoice stayed in Outstanding")
    paid = json_of((await client.get("/api/v1/invoices?status=paid", headers=auth(token))).content)
    assert invoice.invoice_id in {item["external_id"] for item in paid["items"]}


async def test_intent_to_receive_is_answered_by_signature(client: httpx.AsyncClient, xero: XeroStandIn) -> None:
    from ledger.sandbox.xero import intent_to_receive

    body, signature = intent_to_receive(xero.sandbox.webhook_key)
    assert (
        await client.post("/webhooks/xero", content=body, headers={"x-xero-signature": signature})
    ).status_code == 200
    body, wrong = intent_to_receive(xero.sandbox.webhook_key, valid=False)
    assert (await client.post("/webhooks/xero", content=body, headers={"x-xero-signature": wrong})).status_code == 401


async def test_expired_token_is_refreshed_once_by_two_concurrent_syncs(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, running_app: Any
) -> None:
    from jobs.ledger import ledger_context
    from ledger.sync import sync_connection

    tenant = xero.sandbox.add_tenant("Rotation Ltd")
    xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(5, xero.sandbox.clock.today(), seed=5))
    _, connection = await connected_workspace(client, workspaces, xero, tenant)
    refreshes_before = _refresh_calls(xero)

    # Both our copy and the ledger's: one sync path refreshes up front, the other on a 401.
    row = await LedgerConnection.select(LedgerConnection.grant).where(
        LedgerConnection.id == uuid.UUID(connection["id"])
    )
    await LedgerGrant.update({LedgerGrant.access_token_expires_at: utcnow() - dt.timedelta(minutes=1)}).where(
        LedgerGrant.id == row[0]["grant"]
    )
    xero.sandbox.expire_access_token()
    context = ledger_context({"settings": running_app.state.settings, "http": running_app.state.http})
    first, second = await asyncio.gather(
        sync_connection(context, connection["id"]), sync_connection(context, connection["id"])
    )
    assert _refresh_calls(xero) == refreshes_before + 1
    assert first.ledger_calls >= 1
    assert second.ledger_calls >= 1


def _refresh_calls(xero: XeroStandIn) -> int:
    """Token endpoint calls; after the consent every one of them is a refresh."""
    return xero.sandbox.log.count("POST", "/connect/token")
