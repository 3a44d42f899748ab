"""Session security: a new session id on every sign-in (no fixation), sign-in lifetime, sign-out revokes."""

from __future__ import annotations

import time

import httpx
import msgspec

from core.tables import KeyValue
from staff.deps import STAFF_SIGN_IN_LIFETIME
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import csrf_from

PLANTED = "a" * 64  # A session id an attacker chose and planted in the victim's browser.


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    page = await client.get("/staff/login")
    form = {"email": email, "password": password, "_csrf_token": csrf_from(page.text)}
    return await client.post("/staff/login", data=form, follow_redirects=False)


async def _stored(session_id: str) -> bytes | None:
    row = await KeyValue.select(KeyValue.value).where(KeyValue.key == f"session:{session_id}").first()
    return bytes(row["value"]) if row else None


async def test_staff_sign_in_issues_a_new_session_id(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, email = await workspaces.create()
    client.cookies.set("portal_session", PLANTED, domain="testserver.local")
    response = await _sign_in(client, email, workspaces.password)
    assert response.status_code == 303
    issued = client.cookies["portal_session"]
    assert issued != PLANTED
    assert len(issued) == 64  # 32 random bytes, hex
    assert await _stored(PLANTED) is None
    assert (await client.get("/staff/collections", follow_redirects=False)).status_code == 200

    # The attacker's browser, still holding the planted id, is not signed in.
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as attacker:
        attacker.cookies.set("portal_session", PLANTED, domain="testserver.local")
        assert (await attacker.get("/staff/collections", follow_redirects=False)).status_code == 303


async def test_signing_in_again_retires_the_previous_session(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, email = await workspaces.create()
    page = await client.get("/staff/login")
    form = {"email": email, "password": workspaces.password, "_csrf_token": csrf_from(page.text)}
    await client.post("/staff/login", data=form, follow_redirects=False)
    first = client.cookies["portal_session"]
    await client.post("/staff/login", data=form, follow_redirects=False)  # e.g. a second tab's form
    assert client.cookies["portal_session"] != first
    assert await _stored(first) is None


async def test_magic_link_sets_a_fresh_client_cookie(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    # Client sessions are signed cookies (portal/sessions.py): whatever value was planted stays worthless.
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])
    client.cookies.set("portal_client", PLANTED, domain="testserver.local")
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    assert opened.status_code == 303
    assert client.cookies["portal_client"] != PLANTED
    assert (await client.get(opened.headers["location"])).status_code == 200
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as attacker:
        attacker.cookies.set("portal_client", PLANTED, domain="testserver.local")
        assert (await attacker.get(opened.headers["location"])).status_code == 404


async def test_staff_session_ends_twelve_hours_after_sign_in_even_when_busy(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, email = await workspaces.create()
    await _sign_in(client, email, workspaces.password)
    session_id = client.cookies["portal_session"]
    stored = await _stored(session_id)
    assert stored is not None
    data = msgspec.json.decode(stored)
    assert time.time() - data["staff"]["signed_in_at"] < 60
    # The session row itself is fresh (as if the selection had just changed); only the sign-in is old.
    data["staff"]["signed_in_at"] = time.time() - STAFF_SIGN_IN_LIFETIME - 1
    await KeyValue.update({KeyValue.value: msgspec.json.encode(data)}).where(KeyValue.key == f"session:{session_id}")
    response = await client.get("/staff/collections", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")
    assert await _stored(session_id) is None


async def test_sign_out_deletes_the_session_on_the_server(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, email = await workspaces.create()
    await _sign_in(client, email, workspaces.password)
    session_id = client.cookies["portal_session"]
    page = await client.get("/staff/collections")
    await client.post("/staff/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert await _stored(session_id) is None
    # Replaying the old cookie (copied before sign-out) gets nowhere.
    async with httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)) as replay:
        replay.cookies.set("portal_session", session_id, domain="testserver.local")
        assert (await replay.get("/staff/collections", follow_redirects=False)).status_code == 303
