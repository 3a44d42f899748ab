"""The JSON API needs a bearer token and never shows another workspace's objects."""

from __future__ import annotations

import httpx

from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import auth, json_of


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/health")
    assert response.status_code == 200
    assert json_of(response.content)["status"] == "ok"


async def test_missing_and_invalid_tokens_get_401_in_the_error_shape(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    for headers in ({}, auth("pt_not-a-real-token"), {"Authorization": "Basic abc"}):
        response = await client.get(f"/api/v1/clients/{customer.id}", headers=headers)
        assert response.status_code == 401
        assert json_of(response.content)["error"]["code"] == "unauthorized"


async def test_token_of_workspace_a_gets_404_for_b_objects(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm_a, _ = await workspaces.create("Firm A")
    firm_b, _ = await workspaces.create("Firm B")
    b_client = await make_client(firm_b.workspace_id, name="B's client")
    b_invoice = await make_invoice(firm_b.workspace_id, b_client)

    own = await client.get(f"/api/v1/clients/{b_client.id}", headers=auth(firm_b.api_token))
    assert own.status_code == 200
    assert json_of(own.content)["name"] == "B's client"

    for path in (f"/api/v1/clients/{b_client.id}", f"/api/v1/invoices/{b_invoice.id}"):
        response = await client.get(path, headers=auth(firm_a.api_token))
        assert response.status_code == 404
        body = json_of(response.content)
        assert body["error"]["code"] == "not_found"
        assert "B's client" not in response.text


async def test_malformed_id_is_404_not_500(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    created, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices/not-a-uuid", headers=auth(created.api_token))
    assert response.status_code == 404
    assert json_of(response.content)["error"]["code"] == "not_found"


async def test_invoice_detail_uses_minor_units_and_iso_dates(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer, currency="JPY", amount_due=500)
    response = await client.get(f"/api/v1/invoices/{invoice.id}", headers=auth(created.api_token))
    assert response.status_code == 200
    body = json_of(response.content)
    assert body["amount_due"] == 500
    assert body["currency"] == "JPY"
    assert body["due_date"] == "2026-12-01"
    assert body["client"]["id"] == str(customer.id)
    assert body["activity"] == []


async def test_unknown_api_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert json_of(response.content)["error"]["code"] == "not_found"


async def test_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/health" in json_of(response.content)["paths"]
