"""Staff invoice page, mark paid and undo, CSV export, and the outbox mailer."""

from __future__ import annotations

import csv
import email
import email.policy
import html
import io
import re
import uuid

import httpx

from core.mail import Attachment, OutboxMailer, OutgoingEmail
from core.scope import WorkspaceScope
from core.tables import OutboxMessage
from staff.services import create_api_token
from staff.settings import templates_for
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import auth, csrf_from, json_of


async def _signed_in(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> str:
    created, email_address = await workspaces.create()
    page = await client.get("/staff/login")
    await client.post(
        "/staff/login",
        data={"email": email_address, "password": workspaces.password, "_csrf_token": csrf_from(page.text)},
    )
    return created.workspace_id


async def test_mark_paid_leaves_outstanding_and_undo_brings_it_back(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    customer = await make_client(workspace_id, name="Cheque Payer Ltd")
    invoice = await make_invoice(workspace_id, customer, number="INV-CHQ")
    page = await client.get(f"/staff/invoices/{invoice.id}")
    assert page.status_code == 200
    assert "INV-CHQ" in page.text
    token = csrf_from(page.text)

    await client.post(f"/staff/invoices/{invoice.id}/mark-paid", data={"_csrf_token": token})
    outstanding = await client.get("/staff/collections")
    assert "INV-CHQ" not in outstanding.text
    detail = await client.get(f"/staff/invoices/{invoice.id}")
    assert 'data-testid="staff-invoice-status">paid<' in detail.text
    assert "Marked paid by" in detail.text

    await client.post(f"/staff/invoices/{invoice.id}/undo-paid", data={"_csrf_token": token})
    assert "INV-CHQ" in (await client.get("/staff/collections")).text
    again = await client.post(f"/staff/invoices/{invoice.id}/undo-paid", data={"_csrf_token": token})
    assert again.status_code == 422


async def test_another_workspaces_invoice_page_is_404(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    other, _ = await workspaces.create()
    theirs = await make_invoice(other.workspace_id, await make_client(other.workspace_id))
    await _signed_in(client, workspaces)
    assert (await client.get(f"/staff/invoices/{theirs.id}")).status_code == 404


async def test_csv_export_follows_filters_and_writes_decimal_amounts(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    customer = await make_client(workspace_id, name='Comma, Quote " Co')
    for n in range(3):
        await make_invoice(workspace_id, customer, number=f"CSV-{n}", currency="JPY", amount_due=1000 + n)
    await make_invoice(workspace_id, customer, number="OTHER-1", currency="USD", amount_due=12345)
    response = await client.get("/staff/collections.csv?q=CSV-")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(row["number"] for row in rows) == ["CSV-0", "CSV-1", "CSV-2"]
    assert rows[0]["client"] == 'Comma, Quote " Co'
    assert sorted(row["amount_due"] for row in rows) == ["1000", "1001", "1002"]
    usd = list(csv.DictReader(io.StringIO((await client.get("/staff/collections.csv?q=OTHER")).text)))
    assert usd[0]["amount_due"] == "123.45"


async def test_outbox_mailer_keeps_the_exact_message(workspaces: WorkspaceFactory) -> None:
    pdf = b"%PDF-1.4 exact bytes"
    await OutboxMailer("billing@firm.example").send(
        OutgoingEmail(
            to="client@outbox.example",
            subject="Invoice INV-1",
            text="Pay here",
            html="<p>Pay here</p>",
            attachments=(Attachment(filename="INV-1.pdf", content_type="application/pdf", content=pdf),),
        )
    )
    row = await OutboxMessage.objects().where(OutboxMessage.recipient == "client@outbox.example").first()
    assert row is not None
    message = email.message_from_bytes(bytes(row.mime), policy=email.policy.default)
    [attachment] = list(message.iter_attachments())  # type: ignore[attr-defined]
    assert attachment.get_filename() == "INV-1.pdf"
    assert attachment.get_content() == pdf


async def test_copy_client_link_makes_a_working_link_and_retires_the_old_one(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    token = await create_api_token_for(workspace_id)
    customer = await make_client(workspace_id, email="share@client.example")
    invoice = await make_invoice(workspace_id, customer, number="INV-SHARE")
    sent = await client.post(
        "/api/v1/payment-requests", json={"invoice_ids": [str(invoice.id)], "mode": "send"}, headers=auth(token)
    )
    request_id = json_of(sent.content)["requests"][0]["id"]
    history = await client.get("/staff/requests")
    made = await client.post(f"/staff/requests/{request_id}/link", data={"_csrf_token": csrf_from(history.text)})
    assert made.status_code == 200
    link = re.search(
        r'data-testid="client-link"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*data-testid="client-link"', made.text
    )
    assert link is not None
    url = link.group(1) or link.group(2)
    client.cookies.clear()
    opened = await client.get(url.replace("http://testserver.local", ""), follow_redirects=False)
    assert opened.status_code == 303
    page = await client.get(opened.headers["location"])
    assert "INV-SHARE" in page.text


async def create_api_token_for(workspace_id: str) -> str:
    """An API token for a workspace made in the test."""
    return await create_api_token(uuid.UUID(workspace_id), name="test")


async def test_request_panel_starts_from_a_saved_template(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    customer = await make_client(workspace_id)
    invoice = await make_invoice(workspace_id, customer, number="INV-TPL")
    panel = await client.get(f"/staff/requests/new?invoice_id={invoice.id}")
    overdue = re.search(r'href="(/staff/requests/new\?template=[^"]+)">Overdue<', panel.text)
    assert overdue is not None
    chosen = await client.get(overdue.group(1).replace("&amp;", "&"))
    assert chosen.status_code == 200
    saved = {t.name: t for t in await templates_for(WorkspaceScope(workspace_id=uuid.UUID(workspace_id)))}["Overdue"]
    message = re.search(r'<textarea name="message"[^>]*>(.*?)</textarea>', chosen.text, re.S)
    assert message is not None
    assert html.unescape(message.group(1)) == saved.body
    assert 'name="invoice_ids" value="' + str(invoice.id) in chosen.text
