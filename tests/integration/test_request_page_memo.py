"""A reloaded request page is answered from memory, and never once anything it shows has changed."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest

import portal.page_memo
import portal.services
import portal.sessions
from core.clock import utcnow
from core.tables import Workspace
from ledger.tables import Client, Invoice
from portal.tables import PaymentRequest
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request


async def _opened(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> tuple[str, Client, Invoice, str]:
    """A client's request page, opened from its link and loaded once: (workspace id, client, invoice, page path)."""
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="Memo Client Ltd")
    invoice = await make_invoice(
        created.workspace_id, customer, number="INV-MEMO", amount_due=12_345, due_date=utcnow().date()
    )
    token = await make_request(created.workspace_id, customer, [invoice])
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    path = opened.headers["location"]
    assert (await client.get(path)).status_code == 200
    return created.workspace_id, customer, invoice, path


def _without_date(response: httpx.Response) -> list[tuple[str, str]]:
    return sorted((name, value) for name, value in response.headers.items() if name != "date")


async def test_a_reload_gets_the_same_page_and_headers(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, _, _, path = await _opened(client, workspaces)
    first, again = await client.get(path), await client.get(path)
    assert again.status_code == 200
    assert again.content == first.content
    assert _without_date(again) == _without_date(first)
    assert again.headers["content-security-policy"].startswith("default-src 'self'")
    assert again.headers["cache-control"] == "no-store"
    assert "set-cookie" not in again.headers


async def test_a_reload_shows_what_changed_since(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    workspace_id, customer, invoice, path = await _opened(client, workspaces)
    assert "$123.45" in (await client.get(path)).text

    # A sync brings a part payment, the firm renames itself and the client's name is corrected.
    await Invoice.update({Invoice.amount_paid_minor: 2_345, Invoice.amount_due_minor: 10_000}).where(
        Invoice.id == invoice.id
    )
    await Workspace.update({Workspace.name: "Renamed Accounting"}).where(Workspace.id == uuid.UUID(workspace_id))
    await Client.update({Client.name: "Memo Client Pty"}).where(Client.id == customer.id)
    page = (await client.get(path)).text
    assert "$100.00" in page  # due now
    assert "$123.45" in page  # the total
    assert "Renamed Accounting" in page
    assert "Memo Client Pty" in page

    await Invoice.update({Invoice.status: "paid", Invoice.amount_due_minor: 0}).where(Invoice.id == invoice.id)
    page = (await client.get(path)).text
    assert "Nothing left to pay" in page
    assert 'data-testid="pay-button"' not in page


async def test_a_revoked_request_is_gone_on_reload(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, _, _, path = await _opened(client, workspaces)
    assert (await client.get(path)).status_code == 200
    await PaymentRequest.update({PaymentRequest.revoked_at: utcnow()}).where(
        PaymentRequest.id == uuid.UUID(path.rsplit("/", 1)[1])
    )
    gone = await client.get(path)
    assert gone.status_code == 404
    assert "INV-MEMO" not in gone.text


async def test_another_browser_never_gets_a_kept_page(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, _, _, path = await _opened(client, workspaces)
    assert (await client.get(path)).status_code == 200

    # Another client, signed in through a link of their own, asks for the first client's page.
    created, _ = await workspaces.create()
    other = await make_client(created.workspace_id, name="Other Client")
    token = await make_request(created.workspace_id, other, [await make_invoice(created.workspace_id, other)])
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as stranger:
        await stranger.get(f"/p/{token}", follow_redirects=False)
        assert (await stranger.get(path)).status_code == 404
        # With the first client's CSRF cookie copied in, still nothing.
        stranger.cookies.set("csrftoken", client.cookies["csrftoken"], domain="testserver.local")
        foreign = await stranger.get(path)
        assert foreign.status_code == 404
        assert "INV-MEMO" not in foreign.text


async def test_an_invoice_turns_overdue_at_midnight(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, _, path = await _opened(client, workspaces)  # due today
    assert "overdue" not in (await client.get(path)).text

    tomorrow = utcnow() + dt.timedelta(days=1)
    for module in (portal.page_memo, portal.services):  # the page's clock; the session cookie's stays real
        monkeypatch.setattr(module, "utcnow", lambda: tomorrow)
    assert ">overdue<" in (await client.get(path)).text


async def test_a_kept_page_ends_with_its_session(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])
    # A link about to expire: the session it opens ends with it.
    await PaymentRequest.update({PaymentRequest.link_expires_at: utcnow() + dt.timedelta(minutes=1)}).where(
        PaymentRequest.client == customer.id
    )
    path = (await client.get(f"/p/{token}", follow_redirects=False)).headers["location"]
    assert (await client.get(path)).status_code == 200
    assert (await client.get(path)).status_code == 200

    later = utcnow() + dt.timedelta(minutes=2)
    for module in (portal.page_memo, portal.sessions):
        monkeypatch.setattr(module, "utcnow", lambda: later)
    assert (await client.get(path)).status_code == 404
