"""The Xero sandbox through HTTP: OAuth with PKCE, connections, invoices, payments, faults and webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledger.sandbox.common import Clock
from ledger.sandbox.oauth import pkce_challenge
from ledger.sandbox.seed import SeedLine, synthetic_seed
from ledger.sandbox.xero import XeroSandbox, create_app, intent_to_receive, invoice_webhook, sign_webhook

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CLIENT_ID, SECRET = "portal-client", "portal-secret"
REDIRECT = "http://127.0.0.1:8000/ledger/callback/xero"
SCOPES = "openid profile email accounting.transactions accounting.contacts accounting.settings offline_access"
INVOICES = "/api.xro/2.0/Invoices"
MS_DATE = re.compile(r"/Date\(\d{13}\+0000\)/")


@pytest.fixture
def sandbox() -> XeroSandbox:
    box = XeroSandbox.with_demo_data(clock=Clock(frozen_at=NOW))
    box.register_app(CLIENT_ID, SECRET, [REDIRECT])
    return box


@pytest.fixture
async def client(sandbox: XeroSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.xero.com") as http:
        yield http


def main_tenant(sandbox: XeroSandbox) -> str:
    return next(iter(sandbox.tenants))


def query_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def authorize(
    client: httpx.AsyncClient, tenants: list[str], *, scope: str = SCOPES, verifier: str | None = None
) -> dict[str, str]:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": scope,
        "state": "st-123",
    }
    if verifier:
        params |= {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
    form: dict[str, Any] = {**params, "decision": "allow", "tenant": tenants}
    return query_of(await client.post("/identity/connect/authorize", data=form))


async def connect(client: httpx.AsyncClient, tenants: list[str], *, scope: str = SCOPES) -> dict[str, Any]:
    """Full authorization-code dance with PKCE; returns the token response."""
    verifier = secrets.token_urlsafe(48)
    redirect = await authorize(client, tenants, scope=scope, verifier=verifier)
    response = await client.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": redirect["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(CLIENT_ID, SECRET),
    )
    assert response.status_code == 200, response.text
    return response.json()


def api_headers(tokens: dict[str, Any], tenant_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {tokens['access_token']}",
        "xero-tenant-id": tenant_id,
        "Accept": "application/json",
    }


# ----- OAuth ---------------------------------------------------------------------------------------------


async def test_consent_page_is_a_plain_form_listing_every_organisation(
    client: httpx.AsyncClient, sandbox: XeroSandbox
) -> None:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "abc",
    }
    page = await client.get("/identity/connect/authorize", params=params)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/identity/connect/authorize">' in page.text
    for tenant in sandbox.tenants.values():
        assert f'type="checkbox" name="tenant" value="{tenant.tenant_id}"' in page.text
    assert 'name="decision" value="allow"' in page.text
    assert "<script" not in page.text


async def test_authorize_refuses_unknown_clients_and_redirect_uris_without_redirecting(
    client: httpx.AsyncClient,
) -> None:
    base = {"response_type": "code", "scope": SCOPES, "state": "s"}
    unknown_client = await client.get(
        "/identity/connect/authorize", params={**base, "client_id": "nope", "redirect_uri": REDIRECT}
    )
    bad_redirect = await client.get(
        "/identity/connect/authorize",
        params={**base, "client_id": CLIENT_ID, "redirect_uri": "https://evil.example/cb"},
    )
    for response in (unknown_client, bad_redirect):
        assert response.status_code == 400
        assert "location" not in response.headers


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid accounting.transactions"}, "invalid_scope"),
        ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
    ],
)
async def test_authorize_reports_bad_requests_back_to_the_app(
    client: httpx.AsyncClient, override: dict[str, str], error: str
) -> None:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "keep-me",
    } | override
    redirect = query_of(await client.get("/identity/connect/authorize", params=params))
    assert redirect["error"] == error
    assert redirect["state"] == "keep-me"


async def test_deny_redirects_with_access_denied(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "state": "s1",
        "decision": "deny",
        "tenant": main_tenant(sandbox),
    }
    redirect = query_of(await client.post("/identity/connect/authorize", data=form))
    assert redirect == {"error": "access_denied", "state": "s1"}
    assert sandbox.connections == {}


async def test_pkce_code_exchange_issues_xero_like_tokens(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    verifier = secrets.token_urlsafe(48)
    redirect = await authorize(client, [main_tenant(sandbox)], verifier=verifier)
    assert redirect["state"] == "st-123"

    exchange = {"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT}
    wrong = await client.post("/connect/token", data={**exchange, "code_verifier": "x" * 50}, auth=(CLIENT_ID, SECRET))
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_grant"})

    redirect = await authorize(client, [main_tenant(sandbox)], verifier=verifier)
    exchange["code"] = redirect["code"]
    response = await client.post(
        "/connect/token", data={**exchange, "code_verifier": verifier}, auth=(CLIENT_ID, SECRET)
    )
    body = response.json()
    assert response.status_code == 200
    assert body["expires_in"] == 1800
    assert body["token_type"] == "Bearer"
    assert {"access_token", "refresh_token", "id_token"} <= body.keys()
    claims = jwt_claims(body["access_token"])
    assert claims["exp"] - claims["nbf"] == 1800
    assert claims["xero_userid"] == sandbox.user.user_id
    assert claims["client_id"] == CLIENT_ID
    assert claims["authentication_event_id"] == next(iter(sandbox.connections.values())).auth_event_id
    assert "accounting.transactions" in claims["scope"]

    replay = await client.post("/connect/token", data={**exchange, "code_verifier": verifier}, auth=(CLIENT_ID, SECRET))
    assert replay.json() == {"error": "invalid_grant"}


async def test_refresh_tokens_rotate_and_the_old_one_dies(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    first = await connect(client, [main_tenant(sandbox)])
    refreshed = await client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(CLIENT_ID, SECRET),
    )
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        jwt_claims(second["access_token"])["authentication_event_id"]
        == jwt_claims(first["access_token"])["authentication_event_id"]
    )

    reused = await client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=(CLIENT_ID, SECRET),
    )
    assert (reused.status_code, reused.json()) == (400, {"error": "invalid_grant"})

    # client_secret_post works too; the new refresh token is still good
    again = await client.post(
        "/connect/token",
        data={
            "grant_type": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "refresh_token": second["refresh_token"],
        },
    )
    assert again.status_code == 200


async def test_wrong_client_secret_is_invalid_client(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tokens = await connect(client, [main_tenant(sandbox)])
    response = await client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT_ID, "wrong"),
    )
    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


async def test_revocation_kills_the_refresh_token_and_the_connections(
    client: httpx.AsyncClient, sandbox: XeroSandbox
) -> None:
    tenant = main_tenant(sandbox)
    tokens = await connect(client, [tenant])
    revoked = await client.post(
        "/connect/revocation", data={"token": tokens["refresh_token"]}, auth=(CLIENT_ID, SECRET)
    )
    assert revoked.status_code == 200
    refresh = await client.post(
        "/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(CLIENT_ID, SECRET),
    )
    assert refresh.json() == {"error": "invalid_grant"}
    assert sandbox.connections == {}
    assert (await client.get(INVOICES, headers=api_headers(tokens, tenant))).status_code == 401


async def test_connections_can_be_filtered_to_one_consent_and_deleted(
    client: httpx.AsyncClient, sandbox: XeroSandbox
) -> None:
    first_tenant, second_tenant = list(sandbox.tenants)
    await connect(client, [first_tenant])
    tokens = await connect(client, [second_tenant])
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    event = jwt_claims(tokens["access_token"])["authentication_event_id"]

    everything = (await client.get("/connections", headers=headers)).json()
    assert {c["tenantId"] for c in everything} == {first_tenant, second_tenant}
    this_consent = (await client.get("/connections", params={"authEventId": event}, headers=headers)).json()
    assert [c["tenantId"] for c in this_consent] == [second_tenant]
    connection = this_consent[0]
    assert connection["tenantType"] == "ORGANISATION"
    assert connection["authEventId"] == event
    assert connection["tenantName"] == sandbox.tenants[second_tenant].name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}", connection["createdDateUtc"])

    deleted = await client.delete(f"/connections/{connection['id']}", headers=headers)
    assert deleted.status_code == 204
    gone = await client.get(INVOICES, headers=api_headers(tokens, second_tenant))
    assert gone.status_code == 403
    assert gone.json()["Detail"] == "AuthenticationUnsuccessful"


# ----- invoices ----------------------------------------------------------------------------------------


async def test_paging_2500_invoices_takes_exactly_three_pages(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = sandbox.add_tenant("Load Test Ltd", base_currency="GBP")
    sandbox.load_seed(tenant.tenant_id, synthetic_seed(2500, today=NOW.date()))
    tokens = await connect(client, [tenant.tenant_id])
    headers = api_headers(tokens, tenant.tenant_id)
    sandbox.log.clear()

    seen: list[str] = []
    sizes = []
    page = 1
    while True:
        body = (await client.get(INVOICES, params={"page": page, "pageSize": 1000}, headers=headers)).json()
        if not body["Invoices"]:
            break
        assert body["pagination"] == {"page": page, "pageSize": 1000, "pageCount": 3, "itemCount": 2500}
        sizes.append(len(body["Invoices"]))
        seen += [i["InvoiceID"] for i in body["Invoices"]]
        page += 1
    assert sizes == [1000, 1000, 500]
    assert len(set(seen)) == 2500
    assert sandbox.log.count("GET", INVOICES) == 4


async def test_page_size_defaults_to_100_and_is_capped_at_1000(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = sandbox.add_tenant("Load Test Ltd")
    sandbox.load_seed(tenant.tenant_id, synthetic_seed(1200, today=NOW.date()))
    tokens = await connect(client, [tenant.tenant_id])
    headers = api_headers(tokens, tenant.tenant_id)
    default = (await client.get(INVOICES, params={"page": 2}, headers=headers)).json()
    assert len(default["Invoices"]) == 100
    assert default["pagination"]["pageCount"] == 12
    capped = (await client.get(INVOICES, params={"page": 1, "pageSize": 5000}, headers=headers)).json()
    assert len(capped["Invoices"]) == 1000
    unpaged = (await client.get(INVOICES, headers=headers)).json()
    assert len(unpaged["Invoices"]) == 1200
    assert "pagination" not in unpaged
    assert all(i["LineItems"] == [] for i in unpaged["Invoices"])


async def test_if_modified_since_returns_only_changed_invoices(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    watermark = sandbox.clock.now()
    assert (await client.get(INVOICES, headers={**headers, "If-Modified-Since": watermark.isoformat()})).json()[
        "Invoices"
    ] == []

    paid = sandbox.invoice_by_number(tenant, "INV-0102")
    edited = sandbox.invoice_by_number(tenant, "INV-0105")
    sandbox.clock.advance(5)
    sandbox.mark_paid(paid.invoice_id)
    sandbox.update_invoice(edited.invoice_id, reference="Revised", due_date=date(2026, 12, 31))

    for since in (watermark.strftime("%Y-%m-%dT%H:%M:%S"), watermark.strftime("%a, %d %b %Y %H:%M:%S GMT")):
        changed = (await client.get(INVOICES, headers={**headers, "If-Modified-Since": since})).json()["Invoices"]
        by_number = {i["InvoiceNumber"]: i for i in changed}
        assert set(by_number) == {"INV-0102", "INV-0105"}
        assert by_number["INV-0102"]["Status"] == "PAID"
        assert by_number["INV-0102"]["AmountDue"] == 0
        assert by_number["INV-0105"]["Reference"] == "Revised"
        assert by_number["INV-0105"]["DueDateString"] == "2026-12-31T00:00:00"


async def test_filters_statuses_ids_where_and_order(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)

    async def numbers(**params: str) -> list[str]:
        response = await client.get(INVOICES, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [i["InvoiceNumber"] for i in response.json()["Invoices"]]

    assert await numbers(Statuses="DRAFT") == ["INV-0114", "INV-0115"]
    assert set(await numbers(Statuses="AUTHORISED,PAID")) == {f"INV-{n:04d}" for n in range(101, 114)}
    wanted = [sandbox.invoice_by_number(tenant, n).invoice_id for n in ("INV-0103", "INV-0109")]
    assert await numbers(IDs=",".join(wanted)) == ["INV-0103", "INV-0109"]
    since = NOW.date() - timedelta(days=12)
    recent = await numbers(where=f'Type=="ACCREC" AND Date>=DateTime({since.year},{since.month:02d},{since.day:02d})')
    assert set(recent) == {"INV-0104", "INV-0108", "INV-0110", "INV-0112", "INV-0114", "INV-0115"}
    assert await numbers(where='Status=="AUTHORISED" && CurrencyCode=="JPY"', order="InvoiceNumber DESC") == [
        "INV-0112",
        "INV-0111",
    ]
    assert (await numbers(order="Total DESC"))[0] == "INV-0112"  # JPY 275,000 beats USD 2,520.00 numerically


@pytest.mark.parametrize(
    "where",
    ['Colour=="red"', "Type==", 'Date>="2026-01-01"', 'Type=="ACCREC" AND'],
)
async def test_bad_where_is_a_query_parse_exception(
    client: httpx.AsyncClient, sandbox: XeroSandbox, where: str
) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    response = await client.get(INVOICES, params={"where": where}, headers=headers)
    assert response.status_code == 400
    assert response.json()["Type"] == "QueryParseException"
    assert response.json()["ErrorNumber"] == 16


async def test_invoice_json_mirrors_xero(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    invoice = sandbox.invoice_by_number(tenant, "INV-0106")
    response = await client.get(f"{INVOICES}/{invoice.invoice_id}", headers=headers)
    body = json.loads(response.content, parse_float=Decimal)
    assert body["Status"] == "OK"
    assert re.fullmatch(r"/Date\(\d{13}\)/", body["DateTimeUTC"])
    (doc,) = body["Invoices"]
    assert doc["InvoiceID"] == invoice.invoice_id
    assert doc["Type"] == "ACCREC"
    assert doc["Total"] == Decimal("1891.00")
    assert doc["AmountPaid"] == Decimal("567.30")
    assert doc["AmountDue"] == Decimal("1323.70")
    assert doc["CurrencyCode"] == "USD"
    assert b'"AmountDue":1323.70' in response.content  # a JSON number, not a string or float artefact
    assert MS_DATE.fullmatch(doc["Date"])
    assert MS_DATE.fullmatch(doc["UpdatedDateUTC"])
    assert doc["DueDateString"] == f"{invoice.due_date.isoformat()}T00:00:00"
    assert doc["Contact"]["EmailAddress"] == "ap@copperline-logistics.example"
    assert [line["LineAmount"] for line in doc["LineItems"]] == [Decimal("1800.00"), Decimal("91.00")]
    assert len(doc["Payments"]) == 1

    by_number = (await client.get(f"{INVOICES}/INV-0111", headers=headers)).json()["Invoices"][0]
    assert by_number["CurrencyCode"] == "JPY"
    assert by_number["Total"] == 198000
    missing = await client.get(f"{INVOICES}/00000000-0000-0000-0000-000000000000", headers=headers)
    assert missing.status_code == 404


async def test_invoice_pdf_is_stable_until_the_invoice_changes(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant) | {"Accept": "application/pdf"}
    invoice = sandbox.invoice_by_number(tenant, "INV-0101")
    first = await client.get(f"{INVOICES}/{invoice.invoice_id}", headers=headers)
    second = await client.get(f"{INVOICES}/{invoice.invoice_id}", headers=headers)
    assert first.headers["content-type"] == "application/pdf"
    assert first.content.startswith(b"%PDF-1.4")
    assert first.content.rstrip().endswith(b"%%EOF")
    assert first.content == second.content
    assert b"(Invoice number: INV-0101) Tj" in first.content
    sandbox.mark_paid(invoice.invoice_id)
    third = await client.get(f"{INVOICES}/{invoice.invoice_id}", headers=headers)
    assert third.content != first.content
    assert b"(Status: PAID) Tj" in third.content


async def test_contacts_by_ids_and_by_id(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    contacts = list(sandbox.tenants[tenant].contacts.values())
    wanted = [contacts[0].contact_id, contacts[8].contact_id]
    listed = (await client.get("/api.xro/2.0/Contacts", params={"IDs": ",".join(wanted)}, headers=headers)).json()
    assert [c["ContactID"] for c in listed["Contacts"]] == wanted
    assert listed["Contacts"][1]["DefaultCurrency"] == "JPY"
    one = (await client.get(f"/api.xro/2.0/Contacts/{contacts[3].contact_id}", headers=headers)).json()
    assert one["Contacts"][0]["Name"] == "Marlowe Family Trust"
    assert one["Contacts"][0]["EmailAddress"] == ""


# ----- authentication and faults --------------------------------------------------------------------------


async def test_expired_forged_and_unscoped_tokens(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    tokens = await connect(client, [tenant])
    headers = api_headers(tokens, tenant)
    assert (await client.get(INVOICES, headers=headers)).status_code == 200

    forged = await client.get(INVOICES, headers={**headers, "Authorization": "Bearer abc.def.ghi"})
    assert forged.status_code == 401
    assert forged.json()["Detail"] == "AuthenticationUnsuccessful"

    other = await client.get(INVOICES, headers={**headers, "xero-tenant-id": list(sandbox.tenants)[1]})
    assert other.status_code == 403
    assert other.json()["Title"] == "Forbidden"

    narrow = await connect(client, [tenant], scope="accounting.transactions offline_access")
    contacts = await client.get("/api.xro/2.0/Contacts", headers=api_headers(narrow, tenant))
    assert contacts.status_code == 401
    assert contacts.json()["Detail"] == "AuthorizationUnsuccessful"

    sandbox.expire_access_token(tokens["access_token"])
    expired = await client.get(INVOICES, headers=headers)
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired: token expired at ")
    assert "invalid_token" in expired.headers["www-authenticate"]
    assert (await client.get(INVOICES, headers=api_headers(narrow, tenant))).status_code == 200

    sandbox.clock.advance(timedelta(minutes=31))
    assert (await client.get(INVOICES, headers=api_headers(narrow, tenant))).status_code == 401


async def test_injected_429_carries_retry_after_then_recovers(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    sandbox.fail_next(2, status=429, retry_after=3)
    statuses = []
    for _ in range(3):
        response = await client.get(INVOICES, params={"page": 1}, headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "3"
            assert response.headers["x-rate-limit-problem"] == "minute"
    assert statuses == [429, 429, 200]
    assert sandbox.faults.pending == 0


async def test_503_storm_until_stopped(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    sandbox.start_storm(503)
    assert {(await client.get(INVOICES, headers=headers)).status_code for _ in range(5)} == {503}
    sandbox.stop_storm()
    assert (await client.get(INVOICES, headers=headers)).status_code == 200


async def test_minute_limit_is_enforced_per_tenant(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    sandbox.minute_limit = 2
    first = await client.get(INVOICES, headers=headers)
    assert first.headers["x-minlimit-remaining"] == "1"
    assert (await client.get(INVOICES, headers=headers)).status_code == 200
    limited = await client.get(INVOICES, headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    sandbox.clock.advance(61)
    assert (await client.get(INVOICES, headers=headers)).status_code == 200


# ----- payments -----------------------------------------------------------------------------------------


def payment_body(invoice_id: str, amount: str, code: str = "090") -> str:
    # Written by hand so the amount is a JSON number with exactly the digits given.
    return (
        f'{{"Payments":[{{"Invoice":{{"InvoiceID":"{invoice_id}"}},"Account":{{"Code":"{code}"}},'
        f'"Date":"2026-11-25","Amount":{amount},"Reference":"Stripe pi_123"}}]}}'
    )


async def test_payment_is_idempotent_per_key(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant) | {"Content-Type": "application/json"}
    invoice = sandbox.invoice_by_number(tenant, "INV-0103")  # USD 1,137.50 due
    before = invoice.updated_at
    sandbox.clock.advance(1)
    body = payment_body(invoice.invoice_id, "137.50")
    first = await client.put("/api.xro/2.0/Payments", content=body, headers={**headers, "Idempotency-Key": "k-1"})
    again = await client.put("/api.xro/2.0/Payments", content=body, headers={**headers, "Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert len(sandbox.payments_for(invoice.invoice_id)) == 1
    assert invoice.due_minor == 100000
    assert invoice.status == "AUTHORISED"
    assert invoice.updated_at > before
    payment = first.json()["Payments"][0]
    assert payment["Amount"] == 137.5
    assert payment["Account"]["Code"] == "090"
    assert payment["Status"] == "AUTHORISED"

    rest = await client.put(
        "/api.xro/2.0/Payments",
        content=payment_body(invoice.invoice_id, "1000.00"),
        headers={**headers, "Idempotency-Key": "k-2"},
    )
    assert rest.status_code == 200
    assert invoice.status == "PAID"
    assert invoice.due_minor == 0
    listed = (await client.get("/api.xro/2.0/Payments", headers=headers)).json()["Payments"]
    assert sum(1 for p in listed if p["Invoice"]["InvoiceID"] == invoice.invoice_id) == 2


@pytest.mark.parametrize(
    ("code", "amount", "message"),
    [
        ("200", "10.00", "Payments can only be made to or from bank accounts"),
        ("092", "10.00", "Payments can only be made to or from bank accounts"),
        ("999", "10.00", "Account could not be found"),
        ("090", "99999.00", "Payment amount exceeds the amount outstanding on this document"),
        ("090", "10.001", "Payment amount must be a number"),
    ],
)
async def test_invalid_payments_are_validation_exceptions(
    client: httpx.AsyncClient, sandbox: XeroSandbox, code: str, amount: str, message: str
) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant) | {"Content-Type": "application/json"}
    invoice = sandbox.invoice_by_number(tenant, "INV-0103")
    response = await client.put(
        "/api.xro/2.0/Payments", content=payment_body(invoice.invoice_id, amount, code), headers=headers
    )
    assert response.status_code == 400
    body = response.json()
    assert body["Type"] == "ValidationException"
    assert any(e["Message"].startswith(message) for e in body["Elements"][0]["ValidationErrors"])
    assert sandbox.payments_for(invoice.invoice_id) == []


async def test_payment_to_a_draft_and_summarize_errors_false(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    draft = sandbox.invoice_by_number(tenant, "INV-0114")
    good = sandbox.invoice_by_number(tenant, "INV-0104")
    payload = {
        "Payments": [
            {"Invoice": {"InvoiceID": draft.invoice_id}, "Account": {"Code": "090"}, "Date": "2026-11-25", "Amount": 1},
            {"Invoice": {"InvoiceNumber": "INV-0104"}, "Account": {"Code": "090"}, "Date": "2026-11-25", "Amount": 50},
        ]
    }
    response = await client.put(
        "/api.xro/2.0/Payments", params={"summarizeErrors": "false"}, json=payload, headers=headers
    )
    assert response.status_code == 200
    bad, ok = response.json()["Payments"]
    assert bad["ValidationErrors"] == [{"Message": "Payments can only be made against Authorised documents"}]
    assert ok["StatusAttributeString"] == "OK"
    assert good.paid_minor == 5000
    assert draft.paid_minor == 0


async def test_deleting_a_payment_reopens_the_invoice(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    invoice = sandbox.invoice_by_number(tenant, "INV-0104")
    payment = sandbox.mark_paid(invoice.invoice_id)
    assert invoice.status == "PAID"
    response = await client.post(
        f"/api.xro/2.0/Payments/{payment.payment_id}", json={"Status": "DELETED"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["Payments"][0]["Status"] == "DELETED"
    assert invoice.status == "AUTHORISED"
    assert invoice.due_minor == invoice.total_minor
    twice = await client.post(
        f"/api.xro/2.0/Payments/{payment.payment_id}", json={"Status": "DELETED"}, headers=headers
    )
    assert twice.status_code == 400


# ----- webhooks and request log ----------------------------------------------------------------------------


async def test_webhook_payload_and_signature(sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    invoice = sandbox.invoice_by_number(tenant, "INV-0101")
    body, signature = invoice_webhook(sandbox, [invoice.invoice_id])
    expected = base64.b64encode(hmac.new(sandbox.webhook_key.encode(), body, hashlib.sha256).digest()).decode()
    assert signature == expected == sign_webhook(body, sandbox.webhook_key)
    payload = json.loads(body)
    (event,) = payload["events"]
    assert event["resourceUrl"] == f"https://api.xero.com/api.xro/2.0/Invoices/{invoice.invoice_id}"
    assert (event["eventCategory"], event["eventType"], event["tenantId"]) == ("INVOICE", "UPDATE", tenant)
    assert payload["firstEventSequence"] == payload["lastEventSequence"] == 1
    assert re.fullmatch(r"[A-Z]{20}", payload["entropy"])
    next_body, _ = invoice_webhook(sandbox, [invoice.invoice_id])
    assert json.loads(next_body)["firstEventSequence"] == 2

    itr_body, good = intent_to_receive("key")
    _, bad = intent_to_receive("key", valid=False)
    assert json.loads(itr_body)["events"] == []
    assert good == sign_webhook(itr_body, "key") != bad


async def test_request_log_records_method_path_and_query(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    headers = api_headers(await connect(client, [tenant]), tenant)
    sandbox.log.clear()
    await client.get(INVOICES, params={"page": 2, "Statuses": "AUTHORISED"}, headers=headers)
    await client.get("/connections", headers=headers)
    (entry,) = sandbox.log.matching("GET", INVOICES)
    assert entry.query == {"page": "2", "Statuses": "AUTHORISED"}
    assert entry.headers["xero-tenant-id"] == tenant
    assert sandbox.log.count() == 2
    assert sandbox.log.count(prefix="/api.xro/") == 1


async def test_seeded_lines_change_totals(sandbox: XeroSandbox) -> None:
    tenant = main_tenant(sandbox)
    invoice = sandbox.invoice_by_number(tenant, "INV-0104")
    sandbox.update_invoice(invoice.invoice_id, lines=[SeedLine("Extra work", Decimal("2.5"), 10000)])
    assert invoice.total_minor == 25000
    assert invoice.due_minor == 25000


async def test_public_pkce_client_needs_no_secret(client: httpx.AsyncClient, sandbox: XeroSandbox) -> None:
    verifier = secrets.token_urlsafe(64)
    redirect = await authorize(client, [main_tenant(sandbox)], verifier=verifier)
    exchange = {
        "grant_type": "authorization_code",
        "code": redirect["code"],
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    tokens = await client.post("/connect/token", data=exchange)
    assert tokens.status_code == 200
    refresh = {"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": tokens.json()["refresh_token"]}
    assert (await client.post("/connect/token", data=refresh)).status_code == 200

    plain = await authorize(client, [main_tenant(sandbox)])
    no_pkce = {
        "grant_type": "authorization_code",
        "code": plain["code"],
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
    }
    assert (await client.post("/connect/token", data=no_pkce)).json() == {"error": "invalid_client"}


async def test_allow_without_choosing_an_organisation_shows_the_page_again(
    client: httpx.AsyncClient, sandbox: XeroSandbox
) -> None:
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPES,
        "decision": "allow",
    }
    response = await client.post("/identity/connect/authorize", data=form)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert sandbox.connections == {}


async def test_optional_refresh_grace_period_and_lenient_scopes() -> None:
    box = XeroSandbox(clock=Clock(frozen_at=NOW), refresh_grace_seconds=60, strict_scopes=False)
    box.add_tenant("Grace Ltd")
    box.register_app(CLIENT_ID, SECRET, [REDIRECT])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(box)), base_url="https://x") as http:
        tokens = await connect(http, [main_tenant(box)])
        refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert (await http.post("/connect/token", data=refresh, auth=(CLIENT_ID, SECRET))).status_code == 200
        assert (await http.post("/connect/token", data=refresh, auth=(CLIENT_ID, SECRET))).status_code == 200
        box.clock.advance(61)
        late = await http.post("/connect/token", data=refresh, auth=(CLIENT_ID, SECRET))
        assert late.json() == {"error": "invalid_grant"}
        offline_less = await connect(http, [main_tenant(box)], scope="openid accounting.transactions")
        assert "refresh_token" not in offline_less
