"""Sessions as people meet them.

Staff: server-side, stored and sent only when they change, checked against the store on every request.
Clients: a signed cookie from the magic link that ends with its 12 hours or its link, whichever is first;
the page itself refuses a revoked request or another client's one.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
from litestar import Litestar

from core.tables import KeyValue
from portal.tables import Payment, PaymentRequest
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import csrf_from, json_of
from tests.stripe_harness import LocalStripe

CLIENT_COOKIE = "portal_client"


def _set_cookies(response: httpx.Response, name: str) -> list[str]:
    return [cookie for cookie in response.headers.get_list("set-cookie") if cookie.startswith(f"{name}=")]


async def _staff_signed_in(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, email = await workspaces.create()
    page = await client.get("/staff/login")
    form = {"email": email, "password": workspaces.password, "_csrf_token": csrf_from(page.text)}
    assert (await client.post("/staff/login", data=form, follow_redirects=False)).status_code == 303


async def _opened(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> tuple[str, httpx.Response]:
    """A client's magic link opened: its token, and the 303 that signed the browser in."""
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="Private Client Ltd")
    token = await make_request(
        created.workspace_id, customer, [await make_invoice(created.workspace_id, customer, number="INV-PRIVATE")]
    )
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    assert opened.status_code == 303
    return token, opened


async def test_a_staff_page_view_leaves_an_unchanged_session_alone(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    await _staff_signed_in(client, workspaces)
    session_key = f"session:{client.cookies['portal_session']}"
    stored = await KeyValue.select(KeyValue.value, KeyValue.expires_at).where(KeyValue.key == session_key).first()
    assert stored is not None

    page = await client.get("/staff/requests")
    assert page.status_code == 200
    assert _set_cookies(page, "portal_session") == []  # nothing changed, so nothing is sent again...
    again = await KeyValue.select(KeyValue.value, KeyValue.expires_at).where(KeyValue.key == session_key).first()
    assert again == stored  # ...or written


async def test_a_deleted_staff_session_is_gone_at_once(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    await _staff_signed_in(client, workspaces)
    assert (await client.get("/staff/requests", follow_redirects=False)).status_code == 200

    await KeyValue.delete().where(KeyValue.key == f"session:{client.cookies['portal_session']}")
    assert (await client.get("/staff/requests", follow_redirects=False)).status_code == 303  # back to sign-in


async def test_visitors_without_a_session_get_none(client: httpx.AsyncClient) -> None:
    before = await KeyValue.count().where(KeyValue.key.like("session:%"))
    for path in ("/portal/requests/00000000-0000-0000-0000-000000000000", "/p/not-a-link", "/staff/login"):
        response = await client.get(path, follow_redirects=False)
        assert _set_cookies(response, "portal_session") == []
        assert _set_cookies(response, CLIENT_COOKIE) == []
    assert "portal_session" not in client.cookies
    assert CLIENT_COOKIE not in client.cookies
    assert await KeyValue.count().where(KeyValue.key.like("session:%")) == before


async def test_a_client_session_is_a_signed_cookie_sent_once(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    before = await KeyValue.count().where(KeyValue.key.like("session:%"))
    _, opened = await _opened(client, workspaces)
    (cookie,) = _set_cookies(opened, CLIENT_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # the test app's origin is http; https gets Secure (tests/unit/test_security.py)
    max_age = int(cookie.split("Max-Age=")[1].split(";")[0])
    assert 12 * 3600 - 60 < max_age <= 12 * 3600
    assert await KeyValue.count().where(KeyValue.key.like("session:%")) == before  # nothing stored server-side

    page = await client.get(opened.headers["location"])
    assert page.status_code == 200
    assert "INV-PRIVATE" in page.text
    assert _set_cookies(page, CLIENT_COOKIE) == []


async def test_a_tampered_or_foreign_client_cookie_opens_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, opened = await _opened(client, workspaces)
    path = opened.headers["location"]
    genuine = client.cookies[CLIENT_COOKIE]
    body, _, mac = genuine.partition(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    forgeries = [
        f"{flipped}.{mac}",  # the payload changed, the signature kept
        body,  # no signature
        f"{body}.{mac[:-2]}",  # a cut signature
        "",
        "not a cookie at all",
    ]
    for forged in forgeries:
        client.cookies.set(CLIENT_COOKIE, forged)
        page = await client.get(path)
        assert page.status_code == 404, forged
        assert "INV-PRIVATE" not in page.text

    # A genuine cookie of another client opens its own page only.
    client.cookies.clear()
    _, other = await _opened(client, workspaces)
    assert (await client.get(other.headers["location"])).status_code == 200
    refused = await client.get(path)
    assert refused.status_code == 404
    assert "INV-PRIVATE" not in refused.text


async def test_a_cookie_signed_under_another_secret_opens_nothing(
    running_app: Litestar, workspaces: WorkspaceFactory
) -> None:
    from portal.schemas import ClientSession
    from portal.sessions import ClientSessions

    transport = httpx.ASGITransport(app=running_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        _, opened = await _opened(client, workspaces)
        request_id = opened.headers["location"].rsplit("/", 1)[1]
        row = await PaymentRequest.select(PaymentRequest.client, PaymentRequest.workspace).where(
            PaymentRequest.id == request_id
        )
        session = ClientSession(
            request_id=request_id, client_id=str(row[0]["client"]), workspace_id=str(row[0]["workspace"])
        )
        elsewhere = ClientSessions("another-instance-secret-key-of-forty-chars", secure=False).cookie(
            session, link_expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        )
        client.cookies.set(CLIENT_COOKIE, elsewhere.value or "")
        assert (await client.get(opened.headers["location"])).status_code == 404


async def test_a_client_session_ends_with_its_link(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    token = await make_request(created.workspace_id, customer, [await make_invoice(created.workspace_id, customer)])
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    await PaymentRequest.update({PaymentRequest.link_expires_at: soon}).where(PaymentRequest.client == customer.id)
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    assert opened.status_code == 303
    (cookie,) = _set_cookies(opened, CLIENT_COOKIE)
    assert int(cookie.split("Max-Age=")[1].split(";")[0]) <= 2
    assert (await client.get(opened.headers["location"])).status_code == 200

    await asyncio.sleep((soon - dt.datetime.now(dt.UTC)).total_seconds() + 0.1)
    client.cookies.set(CLIENT_COOKIE, opened.cookies[CLIENT_COOKIE])  # a browser that ignored Max-Age
    assert (await client.get(opened.headers["location"])).status_code == 404


async def test_revoking_a_request_ends_its_open_sessions(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, opened = await _opened(client, workspaces)
    path = opened.headers["location"]
    assert (await client.get(path)).status_code == 200
    request_id = path.rsplit("/", 1)[1]
    await PaymentRequest.update({PaymentRequest.revoked_at: dt.datetime.now(dt.UTC)}).where(
        PaymentRequest.id == request_id
    )
    withdrawn = await client.get(path)
    assert withdrawn.status_code == 404
    assert "INV-PRIVATE" not in withdrawn.text
    assert (await client.get(f"{path}/pay?currency=USD")).status_code == 404


async def test_a_revoked_request_cannot_be_paid_from_a_page_left_open(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    invoice = await make_invoice(created.workspace_id, customer, amount_due=4200)
    token = await make_request(created.workspace_id, customer, [invoice])
    opened = await client.get(f"/p/{token}", follow_redirects=False)
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/portal/requests/{request_id}/pay?invoice={invoice.id}")
    assert page.status_code == 200
    headers = {"x-csrftoken": page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
    await stripe_stand_in.confirm_card_setup(setup["client_secret"], "4242424242424242")

    await PaymentRequest.update({PaymentRequest.revoked_at: dt.datetime.now(dt.UTC)}).where(
        PaymentRequest.id == request_id
    )
    paid = await client.post(
        "/portal/payments",
        json={"request_id": request_id, "invoice_ids": [str(invoice.id)], "setup_intent_id": setup["setup_intent_id"]},
        headers=headers,
    )
    assert paid.status_code == 404
    assert await Payment.count().where(Payment.client == customer.id) == 0


async def test_revoking_a_request_also_closes_the_saved_cards_pages_it_opened(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe
) -> None:
    _, opened = await _opened(client, workspaces)
    cards = await client.get("/portal/payment-methods")
    assert cards.status_code == 200
    headers = {"x-csrftoken": cards.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    await PaymentRequest.update({PaymentRequest.revoked_at: dt.datetime.now(dt.UTC)}).where(
        PaymentRequest.id == request_id
    )

    assert (await client.get("/portal/payment-methods")).status_code == 404
    saved = await client.post("/portal/payment-methods", json={"setup_intent_id": "seti_any"}, headers=headers)
    assert saved.status_code == 404
