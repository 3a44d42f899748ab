"""Staff flow in Chromium: sign in, filter, select, preview, send; a real SMTP server receives the emails."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from core.money import format_money
from tests.conftest import BASE_URL, WorkspaceFactory, XeroStandIn
from tests.integration.test_payment_requests import imported_firm, pick_two_clients
from tests.mailcatcher import Catcher

pytestmark = pytest.mark.browser
LINK = re.compile(r"http://testserver\.local/p/[A-Za-z0-9_\-]+")


async def test_select_three_invoices_of_two_clients_preview_and_send(
    page: Page,
    live_url: str,
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    mail: Catcher,
) -> None:
    _, invoices = await imported_firm(client, workspaces, xero)
    chosen = pick_two_clients(invoices)
    addresses = [chosen[0]["client"]["email"], chosen[2]["client"]["email"]]
    before = {address: len(mail.to(address)) for address in addresses}

    await page.goto(f"{live_url}/staff/login")
    await page.get_by_label("Email").fill(workspaces.last_email)
    await page.get_by_label("Password").fill(workspaces.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Collections")).to_be_visible()

    # Filter to Xero (every invoice here is), then pick the three.
    await page.get_by_label("Source").select_option("xero")
    await expect(page).to_have_url(re.compile(r"source=xero"))
    for invoice in chosen:
        row = page.locator(f'[data-testid="staff-invoice-row"][data-invoice-id="{invoice["id"]}"]')
        await row.get_by_test_id("select-invoice").check()
    await expect(page.get_by_test_id("selection-count")).to_have_text("3")
    totals = page.get_by_test_id("selection-totals")
    for currency in {chosen[0]["currency"], chosen[2]["currency"]}:
        amount = sum(item["amount_due"] for item in chosen if item["currency"] == currency)
        await expect(totals).to_contain_text(format_money(amount, currency))

    await page.get_by_test_id("request-selected").click()
    await expect(page.get_by_test_id("panel-summary")).to_contain_text("3 invoices for 2 clients")
    await page.get_by_test_id("preview-button").click()
    previews = page.get_by_test_id("email-preview")
    await expect(previews).to_have_count(2)
    recipients = sorted(await page.get_by_test_id("email-to").all_text_contents())
    assert recipients == sorted(addresses)

    await page.get_by_test_id("send-button").click()
    await expect(page.get_by_test_id("sent-notice")).to_be_visible()

    messages: dict[str, Any] = {}
    for address in addresses:
        received = await mail.wait_for(address, before[address] + 1)
        assert len(received) == before[address] + 1  # exactly one new message per client
        messages[address] = received[-1]
    for address, message in messages.items():
        assert message.get_content_type() == "multipart/mixed"
        text = message.get_body(preferencelist=("plain",)).get_content()
        html = message.get_body(preferencelist=("html",)).get_content()
        link = LINK.search(text)
        assert link is not None
        assert link.group(0) in html
        expected = sorted(f"{item['number']}.pdf" for item in chosen if item["client"]["email"] == address)
        assert sorted(part.get_filename() for part in message.iter_attachments()) == expected

    # The magic link works in a fresh browser session.
    link = LINK.search(messages[addresses[0]].get_body(preferencelist=("plain",)).get_content())
    assert link is not None
    await page.context.clear_cookies()
    await page.goto(link.group(0).replace(BASE_URL, live_url))
    rows = page.get_by_test_id("invoice-row")
    await expect(rows).to_have_count(2)
    numbers = sorted(await page.get_by_test_id("invoice-number").all_text_contents())
    assert numbers == sorted([chosen[0]["number"], chosen[1]["number"]])
