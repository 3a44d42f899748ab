"""The staff Connections page: status, import report, sync now, disconnect."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth, csrf_from, json_of
from tests.integration.test_ledger_xero import connected_workspace
from tests.ledger_helpers import recent_invoices


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/staff/login")
    response = await client.post(
        "/staff/login",
        data={"email": email, "password": password, "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303


async def test_connections_page_shows_status_and_syncs_on_request(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Page Test Ltd")
    xero.sandbox.load_seed(tenant.tenant_id, recent_invoices(4, xero.sandbox.clock.today(), seed=21))
    _, connection = await connected_workspace(client, workspaces, xero, tenant)
    # connected_workspace made the workspace; sign in as its admin through the factory's last email.
    await _sign_in(client, workspaces.last_email, workspaces.password)

    page = await client.get("/staff/connections")
    assert page.status_code == 200
    assert "Page Test Ltd" in page.text
    assert 'data-testid="connection-status">active<' in page.text
    assert "4 imported" in page.text

    calls = xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices")
    queued = await client.post(
        f"/staff/connections/{connection['id']}/sync",
        data={"_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert queued.status_code == 303
    assert queued.headers["location"] == "/staff/connections?done=sync"
    notice = await client.get(queued.headers["location"])
    assert "Sync queued" in notice.text
    for _ in range(100):
        if xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices") > calls:
            break
        await asyncio.sleep(0.05)
    assert xero.sandbox.log.count("GET", "/api.xro/2.0/Invoices") > calls


async def test_bad_account_code_is_explained_and_changes_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    tenant = xero.sandbox.add_tenant("Account Code Ltd")
    _, connection = await connected_workspace(client, workspaces, xero, tenant)
    await _sign_in(client, workspaces.last_email, workspaces.password)
    page = await client.get("/staff/connections")
    token = csrf_from(page.text)
    bad = await client.post(
        f"/staff/connections/{connection['id']}/account", data={"payment_account_code": " ", "_csrf_token": token}
    )
    assert bad.status_code == 400
    assert "Enter the ledger&#39;s account code" in bad.text
    good = await client.post(
        f"/staff/connections/{connection['id']}/account",
        data={"payment_account_code": "090", "_csrf_token": token},
        follow_redirects=True,
    )
    assert "Payment account saved" in good.text
    assert 'value="090"' in good.text


async def test_account_code_with_control_characters_is_refused(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    # Found by the API fuzz: "\r£X\t…\b" was trimmed and stored, to be sent to the ledger with every payment.
    tenant = xero.sandbox.add_tenant("Control Character Ltd")
    token, connection = await connected_workspace(client, workspaces, xero, tenant)
    url = f"/api/v1/ledger-connections/{connection['id']}"
    for code in ("09\x1f0", "\r090\b", "0\t90", "09\x7f"):
        response = await client.patch(url, json={"payment_account_code": code}, headers=auth(token))
        assert response.status_code == 422
        assert "payment_account_code" in json_of(response.content)["error"]["fields"]
    listing = json_of((await client.get("/api/v1/ledger-connections", headers=auth(token))).content)
    assert listing["items"][0]["payment_account_code"] is None
    accepted = await client.patch(url, json={"payment_account_code": " 090 "}, headers=auth(token))
    assert json_of(accepted.content)["payment_account_code"] == "090"
