"""A client pays in Chromium with Stripe.js (localstripe's), on a phone-sized screen."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from ledger.tables import Invoice
from portal.tables import Payment
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request

pytestmark = pytest.mark.browser


async def _open_request(page: Page, live_url: str, workspaces: WorkspaceFactory, amounts: list[int]) -> list[Invoice]:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="Phone Payer Ltd", email="pay@phone.example")
    invoices = [
        await make_invoice(created.workspace_id, customer, number=f"INV-P{i}", amount_due=amount)
        for i, amount in enumerate(amounts)
    ]
    token = await make_request(created.workspace_id, customer, invoices, settings='{"save_payment_method": "optional"}')
    await page.set_viewport_size({"width": 360, "height": 780})
    await page.goto(f"{live_url}/p/{token}")
    await expect(page.get_by_test_id("invoice-row")).to_have_count(len(amounts))
    return invoices


async def _enter_card(page: Page, number: str) -> None:
    element = page.get_by_test_id("card-element")
    await element.get_by_placeholder("number").fill(number)
    await element.get_by_placeholder("exp_month").fill("12")
    await element.get_by_placeholder("exp_year").fill("34")
    await element.get_by_placeholder("cvc").fill("123")
    await element.get_by_placeholder("postal_code").fill("10001")


async def _status(invoice: Invoice) -> str:
    row = await Invoice.select(Invoice.status).where(Invoice.id == invoice.id).first()
    assert row is not None
    return str(row["status"])


async def test_pay_one_invoice_with_4242(page: Page, live_url: str, workspaces: WorkspaceFactory) -> None:
    first, second = await _open_request(page, live_url, workspaces, [12345, 500])
    await page.locator(f'[data-invoice-id="{first.id}"]').get_by_test_id("pay-button").click()
    await _enter_card(page, "4242424242424242")
    await page.get_by_test_id("submit-payment").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("$123.45 received")
    assert await _status(first) == "paid"
    assert await _status(second) == "outstanding"
    await page.get_by_role("link", name="Back to your invoices").click()
    paid_row = page.locator(f'[data-invoice-id="{first.id}"]')
    await expect(paid_row.get_by_test_id("invoice-status")).to_have_text("paid")
    await expect(paid_row.get_by_test_id("pay-button")).to_have_count(0)


async def test_three_d_secure_card_completes_the_challenge(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    [invoice] = await _open_request(page, live_url, workspaces, [9900])
    await page.get_by_test_id("pay-button").click()
    await _enter_card(page, "4000002500003155")
    await page.get_by_test_id("submit-payment").click()
    # The bank's challenge, once when the card is set up and once for the payment itself.
    await page.get_by_role("button", name="Complete authentication").click()
    await page.get_by_role("button", name="Complete authentication").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("received")
    assert await _status(invoice) == "paid"


async def test_declined_card_then_another_card_succeeds(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    [invoice] = await _open_request(page, live_url, workspaces, [2500])
    await page.get_by_test_id("pay-button").click()
    await _enter_card(page, "4000000000000002")
    await page.get_by_test_id("submit-payment").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("declined")
    assert await _status(invoice) == "outstanding"
    await _enter_card(page, "4242424242424242")
    await page.get_by_test_id("submit-payment").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("received")
    assert await _status(invoice) == "paid"
    assert await Payment.count().where((Payment.client == invoice.client) & (Payment.status == "succeeded")) == 1


async def test_pay_all_makes_one_charge_for_every_invoice(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    invoices = await _open_request(page, live_url, workspaces, [1000, 2000, 3000])
    await page.get_by_test_id("pay-all-button").click()
    await _enter_card(page, "4242424242424242")
    await page.get_by_test_id("submit-payment").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("$60.00 received")
    assert [await _status(invoice) for invoice in invoices] == ["paid", "paid", "paid"]
    payments = await Payment.select(Payment.amount_minor).where(Payment.client == invoices[0].client)
    assert payments == [{"amount_minor": 6000}]


async def test_portal_json_calls_need_the_csrf_token(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer)
    token = await make_request(created.workspace_id, customer, [invoice])
    await client.get(f"/p/{token}")
    response = await client.post("/portal/payments/setup-intent", json={})
    assert response.status_code == 403


async def test_add_two_cards_set_default_and_remove_one(
    page: Page, live_url: str, workspaces: WorkspaceFactory
) -> None:
    await _open_request(page, live_url, workspaces, [1500])
    await page.get_by_role("link", name="Saved cards").click()
    await expect(page.get_by_test_id("payment-method")).to_have_count(0)
    for number in ("4242424242424242", "5555555555554444"):
        await _enter_card(page, number)
        await page.get_by_test_id("add-payment-method").click()
        await expect(page.locator(".notice")).to_contain_text("Card saved")
    cards = page.get_by_test_id("payment-method")
    await expect(cards).to_have_count(2)
    second = cards.filter(has_text="4444")
    await second.get_by_test_id("set-default-payment-method").click()
    await expect(page.locator(".notice")).to_contain_text("Default card changed")
    await expect(cards.filter(has_text="4444").get_by_test_id("default-badge")).to_be_visible()
    await cards.filter(has_text="4242").get_by_test_id("remove-payment-method").click()
    await expect(page.locator(".notice")).to_contain_text("Card removed")
    await expect(page.get_by_test_id("payment-method")).to_have_count(1)
    await expect(page.get_by_test_id("payment-method")).to_contain_text("ending 4444")

    # The saved default card pays without typing anything.
    await page.get_by_role("link", name="Your invoices").click()
    await page.get_by_test_id("pay-button").click()
    await expect(page.get_by_test_id("payment-method").filter(has_text="4444").locator("input")).to_be_checked()
    await page.get_by_test_id("submit-payment").click()
    await expect(page.get_by_test_id("payment-result")).to_contain_text("$15.00 received")
