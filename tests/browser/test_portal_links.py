"""Links and isolation as a client's browser meets them."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.async_api import Page, expect

from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request

pytestmark = pytest.mark.browser


async def test_tampered_and_expired_links_reveal_nothing(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="Private Person")
    invoice = await make_invoice(created.workspace_id, customer, number="INV-PRIVATE")
    token = await make_request(created.workspace_id, customer, [invoice])

    response = await page.goto(f"{live_url}/p/{token[:-3]}abc")
    assert response is not None
    assert response.status == 404
    await expect(page.get_by_role("heading")).to_have_text("This link doesn't work")
    await expect(page.get_by_text("INV-PRIVATE")).to_have_count(0)

    await PaymentRequest.update({PaymentRequest.link_expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(days=1)}).where(
        PaymentRequest.client == customer.id
    )
    response = await page.goto(f"{live_url}/p/{token}")
    assert response is not None
    assert response.status == 410
    await expect(page.get_by_role("heading")).to_have_text("This link has expired")
    await expect(page.get_by_text("Private Person")).to_have_count(0)
    await page.get_by_role("button", name="Email me a new link").click()
    await expect(page.get_by_role("status")).to_contain_text("a new link is on its way")


async def test_client_a_cannot_open_client_b_invoice_and_forms_need_csrf(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    alice = await make_client(created.workspace_id, name="Alice Client")
    bob = await make_client(created.workspace_id, name="Bob Client")
    alice_invoice = await make_invoice(created.workspace_id, alice, number="INV-ALICE")
    bob_invoice = await make_invoice(created.workspace_id, bob, number="INV-BOB")
    await make_request(created.workspace_id, bob, [bob_invoice])
    token = await make_request(created.workspace_id, alice, [alice_invoice])

    await page.goto(f"{live_url}/p/{token}")
    await expect(page.get_by_test_id("invoice-number")).to_have_text("INV-ALICE")
    response = await page.goto(f"{live_url}/portal/invoices/{bob_invoice.id}/pdf")
    assert response is not None
    assert response.status == 404
    response = await page.goto(f"{live_url}/portal/requests/{bob_invoice.id}")
    assert response is not None
    assert response.status == 404

    # A form whose CSRF token was stripped is refused and changes nothing.
    await page.goto(f"{live_url}/portal/payment-methods")
    status = await page.evaluate(
        """async () => (await fetch('/portal/payments/setup-intent', {method: 'POST', body: '{}',
             headers: {'Content-Type': 'application/json'}})).status"""
    )
    assert status == 403
