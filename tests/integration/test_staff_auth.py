"""Staff sign-in: CSRF on the form, throttling, sessions and security headers."""

from __future__ import annotations

import re

import httpx

from tests.conftest import WorkspaceFactory
from tests.helpers import csrf_from


async def _sign_in(client: httpx.AsyncClient, email: str, password: str, *, csrf: bool = True) -> httpx.Response:
    page = await client.get("/staff/login")
    form = {"email": email, "password": password, "next": "/staff/collections"}
    if csrf:
        form["_csrf_token"] = csrf_from(page.text)
    return await client.post("/staff/login", data=form, follow_redirects=False)


async def test_staff_pages_redirect_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/staff/collections", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/staff/login")


async def test_sign_in_lands_on_collections_outstanding(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, email = await workspaces.create()
    response = await _sign_in(client, email.upper(), workspaces.password)
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/collections"
    page = await client.get("/staff/collections")
    assert page.status_code == 200
    assert re.search(r'aria-current="page"\s*>Outstanding<', page.text)


async def test_form_without_csrf_token_is_rejected(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, email = await workspaces.create()
    response = await _sign_in(client, email, workspaces.password, csrf=False)
    assert response.status_code == 403
    follow = await client.get("/staff/collections", follow_redirects=False)
    assert follow.status_code == 303  # still signed out


async def test_six_wrong_passwords_in_a_minute_are_throttled(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, email = await workspaces.create()
    statuses = [(await _sign_in(client, email, "wrong password!")).status_code for _ in range(5)]
    assert statuses == [401] * 5
    sixth = await _sign_in(client, email, "wrong password!")
    assert sixth.status_code == 429
    assert "Too many sign-in attempts" in sixth.text
    # Even the right password waits until the window passes.
    right = await _sign_in(client, email, workspaces.password)
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0


async def test_sign_out_ends_the_session(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, email = await workspaces.create()
    await _sign_in(client, email, workspaces.password)
    page = await client.get("/staff/collections")
    response = await client.post("/staff/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    assert (await client.get("/staff/collections", follow_redirects=False)).status_code == 303


async def test_next_parameter_cannot_redirect_off_site(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    _, email = await workspaces.create()
    page = await client.get("/staff/login?next=//evil.example/")
    assert 'name="next" value="/staff/collections"' in page.text
    response = await client.post(
        "/staff/login",
        data={
            "email": email,
            "password": workspaces.password,
            "next": "https://evil.example/",
            "_csrf_token": csrf_from(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/staff/collections"


async def test_pages_carry_security_headers_and_httponly_cookies(client: httpx.AsyncClient) -> None:
    response = await client.get("/staff/login")
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    cookies = response.headers.get_list("set-cookie")
    assert cookies
    assert all("HttpOnly" in cookie and "SameSite=lax" in cookie for cookie in cookies)
    assert "/static/vendor/htmx-2.min.js" in response.text
    asset = await client.get("/static/vendor/htmx-2.min.js")
    assert asset.status_code == 200
