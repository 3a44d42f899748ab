"""Connecting QuickBooks Online: consent with a realm, import by query, changes by CDC and webhooks."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from core.security import SecretBox
from ledger.sandbox.quickbooks import invoice_webhook
from ledger.sandbox.seed import demo_seed
from ledger.tables import LedgerConnection, LedgerGrant
from tests.conftest import TEST_SECRET, QuickBooksStandIn, WorkspaceFactory, XeroStandIn
from tests.helpers import auth, json_of
from tests.integration.test_ledger_xero import connected_workspace, wait_for_sync
from tests.ledger_helpers import connect_ledger, recent_invoices


async def _outstanding_ids(client: httpx.AsyncClient, token: str) -> set[str]:
    body = json_of((await client.get("/api/v1/invoices?limit=500", headers=auth(token))).content)
    return {item["external_id"] for item in body["items"]}


async def test_connect_import_and_follow_changes_by_cdc_and_webhooks(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, quickbooks: QuickBooksStandIn
) -> None:
    sandbox = quickbooks.sandbox
    realm = sandbox.add_realm("Maple Street Bakery", home_currency="USD")
    loaded = sandbox.load_seed(realm.realm_id, demo_seed(sandbox.clock.today()))
    created, _ = await workspaces.create()
    callback = await connect_ledger(client, created.api_token, "quickbooks", quickbooks.url, [realm.realm_id])
    assert callback.status_code == 303
    connection = await wait_for_sync(client, created.api_token)
    assert connection["tenant_id"] == realm.realm_id

    unpaid = {inv.id for inv in loaded if inv.balance_minor > 0}
    assert await _outstanding_ids(client, created.api_token) == unpaid

    # Paid in QuickBooks: the next incremental sync (CDC) takes it out of Outstanding.
    first, second, third = sorted(unpaid)[:3]
    sandbox.mark_paid(first)
    await client.post(f"/api/v1/ledger-connections/{connection['id']}/sync", headers=auth(created.api_token))
    connection = await wait_for_sync(client, created.api_token, after=connection["last_synced_at"])
    assert first not in await _outstanding_ids(client, created.api_token)
    assert sandbox.log.count("GET", f"/v3/company/{realm.realm_id}/cdc") == 1

    # Webhooks, classic and CloudEvents, both signed with the verifier token.
    sandbox.mark_paid(second)
    sandbox.mark_paid(third)
    for invoice_id, cloudevents in ((second, False), (third, True)):
        body, signature = invoice_webhook(sandbox, realm.realm_id, [invoice_id], cloudevents=cloudevents)
        forged = await client.post("/webhooks/quickbooks", content=body, headers={"intuit-signature": "bm9wZQ=="})
        assert forged.status_code == 401
        accepted = await client.post("/webhooks/quickbooks", content=body, headers={"intuit-signature": signature})
        assert accepted.status_code == 200
    for _ in range(200):
        if not {second, third} & await _outstanding_ids(client, created.api_token):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("invoices paid in QuickBooks stayed outstanding after the webhooks")


async def test_pdf_is_the_ledgers_bytes_unchanged(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, quickbooks: QuickBooksStandIn
) -> None:
    sandbox = quickbooks.sandbox
    realm = sandbox.add_realm("PDF Co")
    [invoice, *_] = sandbox.load_seed(realm.realm_id, recent_invoices(2, sandbox.clock.today(), seed=9))
    created, _ = await workspaces.create()
    await connect_ledger(client, created.api_token, "quickbooks", quickbooks.url, [realm.realm_id])
    await wait_for_sync(client, created.api_token)
    listing = json_of((await client.get("/api/v1/invoices", headers=auth(created.api_token))).content)
    ours = next(item for item in listing["items"] if item["external_id"] == invoice.id)

    response = await client.get(f"/api/v1/invoices/{ours['id']}/pdf", headers=auth(created.api_token))
    async with httpx.AsyncClient() as direct:
        token = await _access_token_of(created.workspace_id)
        raw = await direct.get(
            f"{quickbooks.url}/v3/company/{realm.realm_id}/invoice/{invoice.id}/pdf",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/pdf"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == raw.content
    assert response.content.startswith(b"%PDF")
    calls = sandbox.log.count("GET", f"/v3/company/{realm.realm_id}/invoice/{invoice.id}/pdf")
    again = await client.get(f"/api/v1/invoices/{ours['id']}/pdf", headers=auth(created.api_token))
    assert again.content == raw.content
    assert sandbox.log.count("GET", f"/v3/company/{realm.realm_id}/invoice/{invoice.id}/pdf") == calls  # cached


async def _access_token_of(workspace_id: str) -> str:
    """The access token our app holds for the workspace's ledger (to call the sandbox directly)."""
    grant = await LedgerGrant.objects().where(LedgerGrant.workspace == uuid.UUID(workspace_id)).first()
    assert grant is not None
    return SecretBox(TEST_SECRET).open(grant.access_token_enc)


async def test_revoked_grant_asks_for_reconnection_without_retrying(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Revoked Ltd")
    xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(2, xero.sandbox.clock.today(), seed=2))
    token, connection = await connected_workspace(client, workspaces, xero, tenant)
    row = await LedgerConnection.select(LedgerConnection.grant).where(
        LedgerConnection.id == uuid.UUID(connection["id"])
    )
    grant = await LedgerGrant.objects().where(LedgerGrant.id == row[0]["grant"]).first()
    assert grant is not None
    xero.sandbox.oauth.revoke(SecretBox(TEST_SECRET).open(grant.refresh_token_enc))
    xero.sandbox.expire_access_token()
    refreshes = xero.sandbox.log.count("POST", "/connect/token")

    await client.post(f"/api/v1/ledger-connections/{connection['id']}/sync", headers=auth(token))
    for _ in range(200):
        listing = json_of((await client.get("/api/v1/ledger-connections", headers=auth(token))).content)
        if listing["items"][0]["status"] == "reauthorization_required":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"connection never asked for reconnection: {listing}")
    assert "Connect it again" in listing["items"][0]["last_error"]
    await asyncio.sleep(0.5)
    assert xero.sandbox.log.count("POST", "/connect/token") == refreshes + 1  # tried once, no loop
    again = await client.post(f"/api/v1/ledger-connections/{connection['id']}/sync", headers=auth(token))
    assert again.status_code == 422
