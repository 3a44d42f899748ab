"""Payment requests through the API: preview, send through real SMTP, magic links, revoke, bad input."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from typing import Any

import httpx
import pytest
from saq.job import Job

from core.security import token_digest
from jobs.requests import deliver_payment_request
from ledger.sandbox.seed import SeedData, demo_seed
from ledger.tables import Client
from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth, json_of
from tests.integration.test_ledger_xero import connected_workspace
from tests.mailcatcher import Catcher

LINK = re.compile(r"http://testserver\.local/p/([A-Za-z0-9_\-]+)")


async def imported_firm(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> tuple[str, list[dict[str, Any]]]:
    """A workspace connected to a Xero organisation with the demo book, and its outstanding invoices."""
    tag = uuid.uuid4().hex[:6]
    tenant = xero.sandbox.add_tenant(f"Requests {tag}")
    xero.sandbox.load_seed(tenant.tenant_id, tagged_emails(demo_seed(xero.sandbox.clock.today()), tag))
    token, _ = await connected_workspace(client, workspaces, xero, tenant)
    listing = json_of((await client.get("/api/v1/invoices?limit=500", headers=auth(token))).content)
    return token, listing["items"]


def tagged_emails(data: SeedData, tag: str) -> SeedData:
    """The same book with client addresses unique to one test (mail for other tests never mixes in)."""
    clients = tuple(
        dataclasses.replace(c, email=c.email.replace("@", f"+{tag}@")) if c.email else c for c in data.clients
    )
    return SeedData(clients, data.invoices)


def pick_two_clients(invoices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Three invoices: two of one client, one of another client billed in another currency."""
    by_client: dict[str, list[dict[str, Any]]] = {}
    for invoice in invoices:
        if invoice["client"]["email"]:
            by_client.setdefault(invoice["client"]["id"], []).append(invoice)
    first = next(items for items in by_client.values() if len(items) >= 2)
    other = next(
        items[0]
        for items in by_client.values()
        if items[0]["client"]["id"] != first[0]["client"]["id"] and items[0]["currency"] != first[0]["currency"]
    )
    return [first[0], first[1], other]


async def test_preview_shows_one_email_per_client_and_stores_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher
) -> None:
    token, invoices = await imported_firm(client, workspaces, xero)
    chosen = pick_two_clients(invoices)
    response = await client.post(
        "/api/v1/payment-requests",
        json={"invoice_ids": [item["id"] for item in chosen], "mode": "preview", "message": "Hello {client_name}!"},
        headers=auth(token),
    )
    assert response.status_code == 200, response.text
    body = json_of(response.content)
    assert body["count"] == 3
    assert {total["currency"] for total in body["totals"]} == {chosen[0]["currency"], chosen[2]["currency"]}
    assert len(body["emails"]) == 2
    first = next(email for email in body["emails"] if email["to"] == chosen[0]["client"]["email"])
    assert sorted(first["invoice_ids"]) == sorted([chosen[0]["id"], chosen[1]["id"]])
    assert f"Hello {chosen[0]['client']['name']}!" in first["text"]
    assert [a["filename"] for a in first["attachments"]] == [f"{chosen[0]['number']}.pdf", f"{chosen[1]['number']}.pdf"]
    assert all(a["content_type"] == "application/pdf" and a["size"] > 100 for a in first["attachments"])
    assert "/p/" in first["text"]
    assert "/p/" in first["html"]
    assert await PaymentRequest.count().where(PaymentRequest.client == uuid.UUID(chosen[0]["client"]["id"])) == 0
    await asyncio.sleep(0.3)
    # Other tests email the same demo clients; nothing carrying this preview's message may arrive.
    greeting = f"Hello {chosen[0]['client']['name']}!"
    sent = [m for m in mail.to(chosen[0]["client"]["email"]) if greeting in m.get_body(("plain",)).get_content()]
    assert sent == []


async def test_send_delivers_one_multipart_email_per_client_with_pdfs_and_a_working_link(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher
) -> None:
    token, invoices = await imported_firm(client, workspaces, xero)
    chosen = pick_two_clients(invoices)
    before = {item["client"]["email"]: len(mail.to(item["client"]["email"])) for item in chosen}
    response = await client.post(
        "/api/v1/payment-requests",
        json={"invoice_ids": [item["id"] for item in chosen], "mode": "send"},
        headers=auth(token),
    )
    assert response.status_code == 202, response.text
    sent = json_of(response.content)
    assert sent["count"] == 3
    assert len(sent["requests"]) == 2

    address = chosen[0]["client"]["email"]
    [message] = (await mail.wait_for(address, before[address] + 1))[before[address] :]
    assert message.get_content_type() == "multipart/mixed"
    body = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert body is not None
    assert html is not None
    text_links = LINK.findall(body.get_content())
    assert text_links
    assert text_links[0] in html.get_content()
    pdfs = {part.get_filename(): part.get_content() for part in message.iter_attachments()}
    assert set(pdfs) == {f"{chosen[0]['number']}.pdf", f"{chosen[1]['number']}.pdf"}
    ledger_pdf = await client.get(f"/api/v1/invoices/{chosen[0]['id']}/pdf", headers=auth(token))
    assert pdfs[f"{chosen[0]['number']}.pdf"] == ledger_pdf.content
    other = chosen[2]["client"]["email"]
    await mail.wait_for(other, before[other] + 1)

    request_id = next(r["id"] for r in sent["requests"] if r["client_id"] == chosen[0]["client"]["id"])
    for _ in range(100):  # The email arrives a moment before the job records it as sent.
        status = json_of((await client.get(f"/api/v1/payment-requests/{request_id}", headers=auth(token))).content)
        if status["status"] != "sending":
            break
        await asyncio.sleep(0.05)
    assert status["status"] == "sent"
    assert status["opened_at"] is None
    for _ in range(100):  # the "sent" activity is written just after the status
        detail = json_of((await client.get(f"/api/v1/invoices/{chosen[0]['id']}", headers=auth(token))).content)
        if detail["activity"][0]["kind"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert [(item["kind"], item["detail"]) for item in detail["activity"][:2]] == [
        ("sent", f"Emailed to {address}"),
        ("requested", f"Payment requested from {address}"),
    ]
    assert [item["kind"] for item in detail["activity"]].count("requested") == 1

    opened = await client.get(f"/p/{text_links[0]}", follow_redirects=False)
    assert opened.status_code == 303
    page = await client.get(opened.headers["location"])
    assert page.status_code == 200
    assert chosen[0]["number"] in page.text
    assert chosen[1]["number"] in page.text
    assert chosen[2]["number"] not in page.text
    status = json_of((await client.get(f"/api/v1/payment-requests/{request_id}", headers=auth(token))).content)
    assert status["opened_at"] is not None

    revoked = await client.post(f"/api/v1/payment-requests/{request_id}/revoke", headers=auth(token))
    assert json_of(revoked.content)["status"] == "revoked"
    # The page already open in the client's browser goes too.
    withdrawn = await client.get(opened.headers["location"])
    assert withdrawn.status_code == 404
    assert chosen[0]["number"] not in withdrawn.text
    client.cookies.clear()
    dead = await client.get(f"/p/{text_links[0]}", follow_redirects=False)
    assert dead.status_code == 410
    assert chosen[0]["number"] not in dead.text
    assert "Email me a new link" in dead.text


async def test_a_retried_delivery_never_sends_twice(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    token, invoices = await imported_firm(client, workspaces, xero)
    [invoice, *_] = [item for item in invoices if item["client"]["email"]]
    address = invoice["client"]["email"]
    before = len(mail.to(address))
    response = await client.post(
        "/api/v1/payment-requests", json={"invoice_ids": [invoice["id"]], "mode": "send"}, headers=auth(token)
    )
    request_id = json_of(response.content)["requests"][0]["id"]
    count = len(await mail.wait_for(address, before + 1))
    assert count == before + 1
    for _ in range(100):  # the worker notes "sent" just after the SMTP server accepted the message
        status = json_of((await client.get(f"/api/v1/payment-requests/{request_id}", headers=auth(token))).content)
        if status["status"] == "sent":
            break
        await asyncio.sleep(0.05)
    ctx = {"settings": running_app.state.settings, "http": running_app.state.http, "ledger": running_app.state.ledger}
    ctx["job"] = Job(function="deliver_payment_request", retries=3, attempts=2)
    again = await deliver_payment_request(ctx, request_id=request_id, token="a-token-from-the-retried-job")
    assert again == {"status": "sent"}
    await asyncio.sleep(0.3)
    assert len(mail.to(address)) == count


async def test_smtp_refusing_until_the_last_attempt_fails_the_request_and_alerts_staff(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    token, invoices = await imported_firm(client, workspaces, xero)
    [invoice, *_] = [item for item in invoices if item["client"]["email"]]
    request = PaymentRequest(
        workspace=(await Client.select(Client.workspace).where(Client.id == uuid.UUID(invoice["client"]["id"])))[0][
            "workspace"
        ],
        client=uuid.UUID(invoice["client"]["id"]),
        batch_id=str(uuid.uuid4()),
        subject="",
        token_hash=token_digest("direct-test-token"),
        link_expires_at=PaymentRequest.link_expires_at.default.python(),  # type: ignore[attr-defined]
    )
    await request.save()
    from portal.tables import PaymentRequestInvoice

    await PaymentRequestInvoice(request=request.id, invoice=uuid.UUID(invoice["id"])).save()
    mail.refuse.add(invoice["client"]["email"])
    ctx = {"settings": running_app.state.settings, "http": running_app.state.http, "ledger": running_app.state.ledger}
    ctx["job"] = Job(function="deliver_payment_request", retries=2, attempts=1)
    with pytest.raises(Exception, match="mail server did not accept"):
        await deliver_payment_request(ctx, request_id=str(request.id), token="direct-test-token")
    row = await PaymentRequest.objects().where(PaymentRequest.id == request.id).first()
    assert row is not None
    assert row.status == "queued"
    ctx["job"] = Job(function="deliver_payment_request", retries=2, attempts=2)
    assert await deliver_payment_request(ctx, request_id=str(request.id), token="direct-test-token") == {
        "status": "failed"
    }
    status = json_of((await client.get(f"/api/v1/payment-requests/{request.id}", headers=auth(token))).content)
    assert status["status"] == "failed"
    alert = await mail.wait_for(workspaces.last_email)
    assert "could not be emailed" in alert[-1]["Subject"]


async def _direct_request(invoices: list[dict[str, Any]], *, status: str = "queued") -> PaymentRequest:
    """A stored request for some invoices of one client, as a send call would leave it."""
    from portal.tables import PaymentRequestInvoice

    client_id = uuid.UUID(invoices[0]["client"]["id"])
    [owner] = await Client.select(Client.workspace).where(Client.id == client_id)
    request = PaymentRequest(
        workspace=owner["workspace"],
        client=client_id,
        batch_id=str(uuid.uuid4()),
        status=status,
        subject="",
        token_hash=token_digest(f"token-{uuid.uuid4()}"),
        link_expires_at=PaymentRequest.link_expires_at.default.python(),  # type: ignore[attr-defined]
    )
    await request.save()
    await PaymentRequestInvoice.insert(
        *[PaymentRequestInvoice(request=request.id, invoice=uuid.UUID(item["id"])) for item in invoices]
    )
    return request


def _job_context(running_app: Any) -> dict[str, Any]:
    state = running_app.state
    return {
        "settings": state.settings,
        "http": state.http,
        "ledger": state.ledger,
        "job": Job(function="deliver_payment_request", retries=3, attempts=1),
    }


async def test_invoices_paid_since_selection_are_left_out_with_a_note(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    token, invoices = await imported_firm(client, workspaces, xero)
    kept, paid = pick_two_clients(invoices)[:2]
    request = await _direct_request([kept, paid])
    from ledger.tables import Invoice

    await Invoice.update({Invoice.status: "paid"}).where(Invoice.id == uuid.UUID(paid["id"]))
    address = kept["client"]["email"]
    before = len(mail.to(address))
    result = await deliver_payment_request(_job_context(running_app), request_id=str(request.id), token="t")
    assert result == {"status": "sent"}
    [message] = (await mail.wait_for(address, before + 1))[before:]
    assert [part.get_filename() for part in message.iter_attachments()] == [f"{kept['number']}.pdf"]
    row = await PaymentRequest.objects().where(PaymentRequest.id == request.id).first()
    assert row is not None
    assert row.status == "sent"
    assert row.note == f"Left out, paid or voided since selection: {paid['number']}."
    detail = json_of((await client.get(f"/api/v1/invoices/{kept['id']}", headers=auth(token))).content)
    assert [item["detail"] for item in detail["activity"] if item["kind"] == "sent"] == [f"Emailed to {address}"]


async def test_a_request_whose_invoices_were_all_paid_is_cancelled_unsent(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    _, invoices = await imported_firm(client, workspaces, xero)
    [invoice, *_] = [item for item in invoices if item["client"]["email"]]
    request = await _direct_request([invoice])
    from ledger.tables import Invoice

    await Invoice.update({Invoice.status: "voided"}).where(Invoice.id == uuid.UUID(invoice["id"]))
    before = len(mail.to(invoice["client"]["email"]))
    result = await deliver_payment_request(_job_context(running_app), request_id=str(request.id), token="t")
    assert result == {"status": "cancelled"}
    row = await PaymentRequest.objects().where(PaymentRequest.id == request.id).first()
    assert row is not None
    assert row.status == "cancelled"
    assert row.note == "Every invoice was paid or voided before sending."
    await asyncio.sleep(0.3)
    assert len(mail.to(invoice["client"]["email"])) == before


async def test_a_delivery_interrupted_mid_send_is_failed_not_resent(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    _, invoices = await imported_firm(client, workspaces, xero)
    [invoice, *_] = [item for item in invoices if item["client"]["email"]]
    request = await _direct_request([invoice], status="sending")
    before = len(mail.to(invoice["client"]["email"]))
    result = await deliver_payment_request(_job_context(running_app), request_id=str(request.id), token="t")
    assert result == {"status": "failed"}
    row = await PaymentRequest.objects().where(PaymentRequest.id == request.id).first()
    assert row is not None
    assert row.status == "failed"
    assert row.last_error is not None
    assert "unknown whether the email arrived" in row.last_error
    alert = await mail.wait_for(workspaces.last_email)
    assert "could not be emailed" in alert[-1]["Subject"]
    assert len(mail.to(invoice["client"]["email"])) == before


async def test_two_runs_of_one_delivery_at_once_send_one_email(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn, mail: Catcher, running_app: Any
) -> None:
    _, invoices = await imported_firm(client, workspaces, xero)
    [invoice, *_] = [item for item in invoices if item["client"]["email"]]
    request = await _direct_request([invoice])
    address = invoice["client"]["email"]
    before = len(mail.to(address))
    results = await asyncio.gather(
        *(deliver_payment_request(_job_context(running_app), request_id=str(request.id), token="t") for _ in range(2))
    )
    assert {"status": "sent"} in results
    await mail.wait_for(address, before + 1)
    await asyncio.sleep(0.3)
    assert len(mail.to(address)) == before + 1
