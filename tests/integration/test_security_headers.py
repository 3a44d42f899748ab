"""Security headers reach every response: CSP without inline scripts or styles, framing, caching."""

from __future__ import annotations

import httpx

from ledger.tables import InvoicePdf
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import auth


def _directive(csp: str, name: str) -> str:
    return next(part.strip() for part in csp.split(";") if part.strip().startswith(name + " "))


def _assert_hardened(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in _directive(csp, "script-src")
    assert "'unsafe-eval'" not in csp
    assert _directive(csp, "frame-ancestors") == "frame-ancestors 'self'"
    assert _directive(csp, "object-src") == "object-src 'none'"
    assert response.headers["x-frame-options"] == "SAMEORIGIN"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


async def test_litestars_own_404_and_405_pages_carry_the_headers(client: httpx.AsyncClient) -> None:
    for response in (await client.get("/no/such/page"), await client.put("/staff/login")):
        assert response.status_code in (404, 405)
        _assert_hardened(response)


async def test_pages_allow_no_inline_styles_but_stripe_pages_do(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    login = await client.get("/staff/login")
    _assert_hardened(login)
    assert _directive(login.headers["content-security-policy"], "style-src") == "style-src 'self'"

    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer)
    token = await make_request(created.workspace_id, customer, [invoice])
    request_page = await client.get(f"/p/{token}", follow_redirects=True)
    assert request_page.status_code == 200
    _assert_hardened(request_page)
    assert _directive(request_page.headers["content-security-policy"], "style-src") == "style-src 'self'"

    pay = await client.get(f"{request_page.url.path}/pay", params={"invoice": str(invoice.id)})
    assert pay.status_code == 200
    _assert_hardened(pay)
    assert _directive(pay.headers["content-security-policy"], "style-src") == "style-src 'self' 'unsafe-inline'"


async def test_invoice_copies_and_api_answers_are_not_cached(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer)
    await InvoicePdf(invoice=invoice.id, version="AUTHORISED", content=b"%PDF-1.4 copy").save()
    token = await make_request(created.workspace_id, customer, [invoice])
    await client.get(f"/p/{token}")
    pdf = await client.get(f"/portal/invoices/{invoice.id}/pdf")
    assert pdf.status_code == 200
    assert pdf.content == b"%PDF-1.4 copy"
    _assert_hardened(pdf)

    api = await client.get(f"/api/v1/invoices/{invoice.id}", headers=auth(created.api_token))
    assert api.status_code == 200
    assert api.headers["cache-control"] == "no-store"


async def test_static_assets_stay_cacheable(client: httpx.AsyncClient) -> None:
    asset = await client.get("/static/css/app.css")
    assert asset.status_code == 200
    assert "no-store" not in asset.headers.get("cache-control", "")
