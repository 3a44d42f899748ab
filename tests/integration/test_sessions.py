"""Server-side sessions: stored and sent only when they change, checked against the store on every request."""

from __future__ import annotations

import httpx

from core.tables import KeyValue
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request


def _session_cookies(response: httpx.Response) -> list[str]:
    return [cookie for cookie in response.headers.get_list("set-cookie") if cookie.startswith("portal_session=")]


async def test_a_page_view_leaves_an_unchanged_session_alone(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])

    opened = await client.get(f"/p/{token}", follow_redirects=False)
    assert opened.status_code == 303
    (cookie,) = _session_cookies(opened)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    session_key = f"session:{client.cookies['portal_session']}"
    stored = await KeyValue.select(KeyValue.value, KeyValue.expires_at).where(KeyValue.key == session_key).first()
    assert stored is not None

    page = await client.get(opened.headers["location"])
    assert page.status_code == 200
    assert _session_cookies(page) == []  # nothing changed, so nothing is sent again...
    again = await KeyValue.select(KeyValue.value, KeyValue.expires_at).where(KeyValue.key == session_key).first()
    assert again == stored  # ...or written


async def test_a_deleted_session_is_gone_at_once(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    path = opened.headers["location"]
    assert (await client.get(path)).status_code == 200

    await KeyValue.delete().where(KeyValue.key == f"session:{client.cookies['portal_session']}")
    assert (await client.get(path)).status_code == 404


async def test_visitors_without_a_session_get_none(client: httpx.AsyncClient) -> None:
    before = await KeyValue.count().where(KeyValue.key.like("session:%"))
    for path in ("/portal/requests/00000000-0000-0000-0000-000000000000", "/p/not-a-link", "/staff/login"):
        response = await client.get(path, follow_redirects=False)
        assert _session_cookies(response) == []
    assert "portal_session" not in client.cookies
    assert await KeyValue.count().where(KeyValue.key.like("session:%")) == before
