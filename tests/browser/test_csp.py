"""The CSP holds in a real browser: staff and portal pages run without a single violation."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request

pytestmark = pytest.mark.browser


def _watch(page: Page) -> list[str]:
    """Console messages that report a Content Security Policy violation."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return violations


async def test_staff_and_portal_pages_cause_no_csp_violation(
    page: Page, live_url: str, client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, email = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer)
    token = await make_request(created.workspace_id, customer, [invoice])
    violations = _watch(page)

    await page.goto(f"{live_url}/staff/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(workspaces.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Collections")).to_be_visible()
    await page.get_by_label("Source").select_option("xero")  # an htmx swap
    await page.wait_for_load_state("networkidle")

    await page.goto(f"{live_url}/p/{token}")
    await expect(page.get_by_test_id("invoice-row")).to_have_count(1)
    await page.get_by_test_id("pay-button").first.click()
    await expect(page.get_by_test_id("submit-payment")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    assert violations == []
