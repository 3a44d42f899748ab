"""Magic links as a client meets them: working, tampered, expired; a fresh one on request."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import csrf_from


async def test_tampered_and_expired_links_show_no_invoice_data(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="Secretive Client Ltd")
    invoice = await make_invoice(created.workspace_id, customer, number="INV-HIDDEN")
    token = await make_request(created.workspace_id, customer, [invoice])

    tampered = await client.get(f"/p/{token[:-2]}xy", follow_redirects=False)
    assert tampered.status_code == 404
    assert "INV-HIDDEN" not in tampered.text
    assert "Secretive" not in tampered.text
    assert "Email me a new link" in tampered.text

    await PaymentRequest.update(
        {PaymentRequest.link_expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}
    ).where(PaymentRequest.client == customer.id)
    expired = await client.get(f"/p/{token}", follow_redirects=False)
    assert expired.status_code == 410
    assert "INV-HIDDEN" not in expired.text
    assert "expired" in expired.text
    assert (
        client.cookies.get("portal_session") is None or (await client.get("/portal/invoices/x/pdf")).status_code == 404
    )

    renewed = await client.post("/p/fresh-link", data={"token": token, "_csrf_token": csrf_from(expired.text)})
    assert renewed.status_code == 200
    assert "a new link is on its way" in renewed.text
    request = await PaymentRequest.objects().where(PaymentRequest.client == customer.id).first()
    assert request is not None
    assert request.link_expires_at.replace(tzinfo=dt.UTC) > dt.datetime.now(dt.UTC)
    assert (await client.get(f"/p/{token}", follow_redirects=False)).status_code == 404  # the old link is retired


async def test_fresh_link_requests_are_rate_limited_and_need_csrf(running_app: Litestar) -> None:
    # A client address of its own: the limit counts per address and per link or email.
    transport = httpx.ASGITransport(app=running_app, client=("198.51.100.23", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        page = await client.get("/p/not-a-real-token")
        token = csrf_from(page.text)
        without_token = await client.post("/p/fresh-link", data={"email": "nobody@example.com"})
        statuses = [
            (await client.post("/p/fresh-link", data={"email": "nobody@example.com", "_csrf_token": token})).status_code
            for _ in range(6)
        ]
    assert without_token.status_code == 403
    assert statuses[:5] == [200] * 5
    assert statuses[5] == 429


async def test_a_fresh_link_by_email_matches_the_exact_address_only(running_app: Litestar) -> None:
    factory = WorkspaceFactory()
    created, _ = await factory.create()
    customer = await make_client(created.workspace_id, email="Real.Person@Client.example")
    await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])
    digest = await _digest_of(customer.id)
    transport = httpx.ASGITransport(app=running_app, client=("198.51.100.77", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        csrf = csrf_from((await client.get("/p/unknown")).text)
        await client.post("/p/fresh-link", data={"email": "%", "_csrf_token": csrf})
        assert await _digest_of(customer.id) == digest  # a pattern matches nobody
        await client.post("/p/fresh-link", data={"email": "real.person@client.EXAMPLE", "_csrf_token": csrf})
    assert await _digest_of(customer.id) != digest  # a fresh link went to the address on file


async def _digest_of(client_id: object) -> str:
    row = await PaymentRequest.select(PaymentRequest.token_hash).where(PaymentRequest.client == client_id).first()
    assert row is not None
    return str(row["token_hash"])
