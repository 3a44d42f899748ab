"""Bad payment-request input gets a field-level 422 and changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from core.db import insert_all
from ledger.tables import Invoice
from portal.tables import PaymentRequest, PaymentRequestInvoice
from staff.request_schemas import MAX_INVOICES
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import auth, json_of


async def _firm(workspaces: WorkspaceFactory) -> tuple[str, str, list[str]]:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, email="ap@client.example")
    invoices = [await make_invoice(created.workspace_id, customer, number=f"INV-{n}") for n in range(3)]
    return created.api_token, created.workspace_id, [str(invoice.id) for invoice in invoices]


async def _post(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/payment-requests", json=body, headers=auth(token))


async def _requests_of(workspace_id: str) -> int:
    return await PaymentRequest.count().where(PaymentRequest.workspace == uuid.UUID(workspace_id))


@pytest.mark.parametrize("mode", ["preview", "send"])
@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda ids: {"invoice_ids": []}, "invoice_ids"),
        (lambda ids: {"invoice_ids": [str(uuid.uuid4()) for _ in range(5001)]}, "invoice_ids"),
        (lambda ids: {"invoice_ids": [*ids, str(uuid.uuid4())]}, "invoice_ids"),
        (lambda ids: {"invoice_ids": [*ids, "not-an-id"]}, "invoice_ids"),
        (lambda ids: {"invoice_ids": ids, "message": "x" * 5001}, "message"),
        (lambda ids: {"invoice_ids": ids, "message": "Dear {client_nmae}"}, "message"),
        (lambda ids: {"invoice_ids": ids, "subject": "Pay {amount_due:>10}"}, "subject"),
        (lambda ids: {"invoice_ids": ids, "message": "Braces { unclosed"}, "message"),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, mode: str, change: Any, field: str
) -> None:
    token, workspace_id, ids = await _firm(workspaces)
    response = await _post(client, token, {"mode": mode, **change(ids)})
    assert response.status_code == 422, response.text
    error = json_of(response.content)["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert await _requests_of(workspace_id) == 0


async def test_unknown_ids_are_named_in_the_error(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    token, _, ids = await _firm(workspaces)
    missing = str(uuid.uuid4())
    error = json_of((await _post(client, token, {"mode": "send", "invoice_ids": [*ids, missing]})).content)["error"]
    assert missing in error["message"]


async def test_an_id_spelt_another_way_is_the_same_invoice(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    token, _, ids = await _firm(workspaces)
    spellings = [ids[0].upper(), ids[0], "{" + ids[1] + "}", ids[2].replace("-", "")]
    response = await _post(client, token, {"mode": "send", "invoice_ids": spellings})
    assert response.status_code == 202, response.text
    body = json_of(response.content)
    assert body["count"] == 3
    [request] = body["requests"]
    assert request["invoice_ids"] == ids
    detail = json_of((await client.get(f"/api/v1/payment-requests/{request['id']}", headers=auth(token))).content)
    assert sorted(detail["invoice_ids"]) == sorted(ids)


async def test_another_workspaces_invoices_cannot_be_requested(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    token, workspace_id, _ = await _firm(workspaces)
    _, _, theirs = await _firm(workspaces)
    response = await _post(client, token, {"mode": "send", "invoice_ids": theirs[:1]})
    assert response.status_code == 422
    assert theirs[0] in json_of(response.content)["error"]["message"]
    assert await _requests_of(workspace_id) == 0


@pytest.mark.parametrize("status", ["paid", "voided", "processing"])
async def test_closed_invoices_are_refused_by_name(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, status: str
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    closed = await make_invoice(created.workspace_id, customer, number="INV-CLOSED", status=status)
    response = await _post(client, created.api_token, {"mode": "send", "invoice_ids": [str(closed.id)]})
    assert response.status_code == 422
    assert f"{closed.id} ({status})" in json_of(response.content)["error"]["message"]
    assert await _requests_of(created.workspace_id) == 0


async def test_clients_without_email_are_listed_and_only_skipped_with_consent(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    reachable = await make_client(created.workspace_id, name="Has Email", email="ap@has.example")
    silent = await make_client(created.workspace_id, name="No Email Co", email=None)
    first = await make_invoice(created.workspace_id, reachable, number="INV-A")
    second = await make_invoice(created.workspace_id, silent, number="INV-B")
    ids = [str(first.id), str(second.id)]

    preview = json_of((await _post(client, created.api_token, {"mode": "preview", "invoice_ids": ids})).content)
    assert [email["to"] for email in preview["emails"]] == ["ap@has.example"]
    assert preview["skipped_clients"][0]["name"] == "No Email Co"
    assert preview["skipped_clients"][0]["invoice_ids"] == [str(second.id)]

    refused = await _post(client, created.api_token, {"mode": "send", "invoice_ids": ids})
    assert refused.status_code == 422
    assert "No Email Co" in json_of(refused.content)["error"]["message"]
    assert "skip_clients_without_email" in json_of(refused.content)["error"]["fields"]
    assert await _requests_of(created.workspace_id) == 0

    consented = await _post(
        client, created.api_token, {"mode": "send", "invoice_ids": ids, "skip_clients_without_email": True}
    )
    assert consented.status_code == 202
    body = json_of(consented.content)
    assert [request["client_id"] for request in body["requests"]] == [str(reachable.id)]
    assert body["skipped_clients"][0]["client_id"] == str(silent.id)
    assert await _requests_of(created.workspace_id) == 1


async def test_unknown_fields_and_modes_are_rejected(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    token, workspace_id, ids = await _firm(workspaces)
    for body in ({"mode": "shout", "invoice_ids": ids}, {"mode": "send", "invoice_ids": ids, "colour": "red"}):
        response = await _post(client, token, body)
        assert response.status_code == 400
        assert json_of(response.content)["error"]["code"] == "bad_request"
    assert await _requests_of(workspace_id) == 0


async def test_the_largest_allowed_request_is_accepted(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    """5,000 invoices in one call: every row is stored (PostgreSQL caps parameters per statement)."""
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, email="big@client.example")
    rows = [
        Invoice(
            workspace=uuid.UUID(created.workspace_id),
            client=customer.id,
            source="xero",
            external_id=f"big-{n}",
            number=f"BIG-{n:05d}",
            currency="USD",
            total_minor=100,
            amount_due_minor=100,
            issue_date=dt.date(2026, 11, 1),
            due_date=dt.date(2026, 12, 1),
            ledger_status="AUTHORISED",
        )
        for n in range(MAX_INVOICES)
    ]
    await insert_all(Invoice, rows)
    response = await _post(client, created.api_token, {"mode": "send", "invoice_ids": [str(r.id) for r in rows]})
    assert response.status_code == 202, response.text
    assert json_of(response.content)["count"] == MAX_INVOICES
    stored = await PaymentRequestInvoice.count().where(
        PaymentRequestInvoice.request == uuid.UUID(json_of(response.content)["requests"][0]["id"])
    )
    assert stored == MAX_INVOICES


@pytest.mark.parametrize("field", ["subject", "message"])
async def test_nul_in_the_text_is_422_and_nothing_is_stored(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, field: str
) -> None:
    # PostgreSQL cannot store NUL in text: a send with one was a 500 there (found with the fuzz's NUL in `q`).
    token, workspace_id, ids = await _firm(workspaces)
    response = await _post(client, token, {"mode": "send", "invoice_ids": ids, field: "Hello\x00{client_name}"})
    assert response.status_code == 422
    assert json_of(response.content)["error"]["fields"] == {"body": "Contains a NUL character."}
    assert await _requests_of(workspace_id) == 0
