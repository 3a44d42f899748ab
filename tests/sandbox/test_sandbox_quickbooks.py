"""The QuickBooks Online sandbox through HTTP: OAuth, queries, CDC, payments, faults and webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ledger.sandbox.common import Clock
from ledger.sandbox.quickbooks import QuickBooksSandbox, create_app, invoice_webhook, sign_webhook
from ledger.sandbox.seed import synthetic_seed

NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CLIENT_ID, SECRET = "intuit-client", "intuit-secret"
REDIRECT = "http://127.0.0.1:8000/ledger/callback/quickbooks"
SCOPE = "com.intuit.quickbooks.accounting openid"
QBO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]:00")


@pytest.fixture
def sandbox() -> QuickBooksSandbox:
    box = QuickBooksSandbox.with_demo_data(clock=Clock(frozen_at=NOW))
    box.register_app(CLIENT_ID, SECRET, [REDIRECT])
    return box


@pytest.fixture
async def client(sandbox: QuickBooksSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="https://quickbooks.api.intuit.com") as http:
        yield http


def main_realm(sandbox: QuickBooksSandbox) -> str:
    return next(iter(sandbox.realms))


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["location"]).query).items()}


async def connect(client: httpx.AsyncClient, realm_id: str) -> dict[str, Any]:
    form = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": SCOPE,
        "state": "qs-1",
        "decision": "allow",
        "realmId": realm_id,
    }
    redirect = redirect_query(await client.post("/connect/oauth2", data=form))
    assert redirect["realmId"] == realm_id
    assert redirect["state"] == "qs-1"
    response = await client.post(
        "/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT},
        auth=(CLIENT_ID, SECRET),
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json"}


async def query(client: httpx.AsyncClient, realm_id: str, tokens: dict[str, Any], text: str) -> httpx.Response:
    return await client.get(
        f"/v3/company/{realm_id}/query", params={"query": text, "minorversion": "75"}, headers=bearer(tokens)
    )


# ----- OAuth ---------------------------------------------------------------------------------------------


async def test_consent_page_offers_each_company_once(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    params = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": SCOPE, "state": "x"}
    page = await client.get("/connect/oauth2", params=params)
    assert page.status_code == 200
    for realm_id in sandbox.realms:
        assert f'type="radio" name="realmId" value="{realm_id}"' in page.text
    missing_scope = await client.get("/connect/oauth2", params={**params, "scope": "openid"})
    assert redirect_query(missing_scope)["error"] == "invalid_scope"
    denied = await client.post("/connect/oauth2", data={**params, "decision": "deny"})
    assert redirect_query(denied) == {"error": "access_denied", "state": "x"}


async def test_tokens_look_like_intuits_and_refresh_tokens_rotate(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    tokens = await connect(client, main_realm(sandbox))
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["x_refresh_token_expires_in"] == 8726400
    assert "id_token" in tokens

    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    rotated = await client.post("/oauth2/v1/tokens/bearer", data=refresh, auth=(CLIENT_ID, SECRET))
    assert rotated.status_code == 200
    assert rotated.json()["refresh_token"] != tokens["refresh_token"]
    stale = await client.post("/oauth2/v1/tokens/bearer", data=refresh, auth=(CLIENT_ID, SECRET))
    assert (stale.status_code, stale.json()) == (400, {"error": "invalid_grant"})
    no_secret = await client.post("/oauth2/v1/tokens/bearer", data={**refresh, "client_id": CLIENT_ID})
    assert (no_secret.status_code, no_secret.json()) == (401, {"error": "invalid_client"})


async def test_revoked_and_expired_tokens_get_401_with_www_authenticate(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    realm = main_realm(sandbox)
    tokens = await connect(client, realm)
    assert (await query(client, realm, tokens, "select * from Invoice")).status_code == 200
    sandbox.expire_access_token(tokens["access_token"])
    expired = await query(client, realm, tokens, "select * from Invoice")
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    assert expired.json()["fault"]["error"][0]["code"] == "3200"

    fresh = await connect(client, realm)
    revoke = await client.post(
        "/oauth2/v1/tokens/revoke", json={"token": fresh["refresh_token"]}, auth=(CLIENT_ID, SECRET)
    )
    assert revoke.status_code == 200
    assert (await query(client, realm, fresh, "select * from Invoice")).status_code == 401


async def test_a_token_only_reaches_its_own_company(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    main, branch = list(sandbox.realms)
    tokens = await connect(client, main)
    response = await query(client, branch, tokens, "select * from Invoice")
    assert response.status_code == 403
    assert response.json()["fault"]["error"][0]["code"] == "3100"


# ----- queries -----------------------------------------------------------------------------------------


async def test_paging_2500_invoices_in_three_queries(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm = sandbox.add_realm("Load Test Inc")
    sandbox.load_seed(realm.realm_id, synthetic_seed(2500, today=NOW.date()))
    tokens = await connect(client, realm.realm_id)
    sandbox.log.clear()
    sizes, ids = [], set()
    for start in (1, 1001, 2001):
        response = await query(
            client,
            realm.realm_id,
            tokens,
            f"select * from Invoice STARTPOSITION {start} MAXRESULTS 1000",  # noqa: S608
        )
        body = response.json()["QueryResponse"]
        assert body["startPosition"] == start
        sizes.append(body["maxResults"])
        ids |= {i["Id"] for i in body["Invoice"]}
    assert sizes == [1000, 1000, 500]
    assert len(ids) == 2500
    past_end = await query(client, realm.realm_id, tokens, "select * from Invoice STARTPOSITION 2501 MAXRESULTS 1000")
    assert past_end.json()["QueryResponse"] == {}
    count = await query(client, realm.realm_id, tokens, "select count(*) from Invoice")
    assert count.json()["QueryResponse"] == {"totalCount": 2500}
    assert sandbox.log.count("GET", f"/v3/company/{realm.realm_id}/query") == 5


async def test_open_balance_ids_and_last_updated_filters(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    realm = sandbox.realms[realm_id]
    open_ids = {i.id for i in realm.invoices.values() if i.balance_minor > 0}
    response = await query(client, realm_id, tokens, "select * from Invoice where Balance > '0' MAXRESULTS 1000")
    assert {i["Id"] for i in response.json()["QueryResponse"]["Invoice"]} == open_ids
    counted = await query(client, realm_id, tokens, "SELECT COUNT(*) FROM Invoice WHERE Balance > '0'")
    assert counted.json()["QueryResponse"]["totalCount"] == len(open_ids) == 12

    some = sorted(open_ids, key=int)[:2]
    text = f"select * from Invoice where Id in ('{some[0]}', '{some[1]}')"  # noqa: S608 - QBO query, not SQL
    by_id = await query(client, realm_id, tokens, text)
    assert [i["Id"] for i in by_id.json()["QueryResponse"]["Invoice"]] == some

    customer_ids = sorted({realm.invoices[i].customer_id for i in some}, key=int)
    in_list = ", ".join(f"'{c}'" for c in customer_ids)
    text = f"select * from Customer where Id in ({in_list})"  # noqa: S608 - QBO query, not SQL
    customers = await query(client, realm_id, tokens, text)
    assert [c["Id"] for c in customers.json()["QueryResponse"]["Customer"]] == customer_ids

    watermark = sandbox.clock.now()
    sandbox.clock.advance(2)
    changed = sandbox.invoice_by_number(realm_id, "INV-0104")
    sandbox.mark_paid(changed.id)
    since = watermark.isoformat()
    text = f"select * from Invoice where Metadata.LastUpdatedTime > '{since}'"  # noqa: S608 - QBO query, not SQL
    recent = await query(client, realm_id, tokens, text)
    (only,) = recent.json()["QueryResponse"]["Invoice"]
    assert only["Id"] == changed.id
    assert only["Balance"] == 0
    assert only["LinkedTxn"][0]["TxnType"] == "Payment"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("select * from Invoice where Balance > '0' or Id = '1'", "4000"),
        ("select * from Invoice where Colour = 'red'", "4001"),
        ("select * from Widget", "4000"),
        ("select * Invoice", "4000"),
        ("select * from Invoice where TxnDate > 'yesterday'", "4001"),
    ],
)
async def test_unsupported_queries_are_faults(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox, text: str, code: str
) -> None:
    realm_id = main_realm(sandbox)
    response = await query(client, realm_id, await connect(client, realm_id), text)
    assert response.status_code == 400
    body = response.json()
    assert body["Fault"]["type"] == "ValidationFault"
    assert body["Fault"]["Error"][0]["code"] == code
    assert "time" in body


async def test_invoice_json_mirrors_quickbooks(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0112")  # JPY, 40% paid
    response = await client.get(f"/v3/company/{realm_id}/invoice/{invoice.id}", headers=bearer(tokens))
    body = json.loads(response.content, parse_float=Decimal)["Invoice"]
    assert body["Id"] == invoice.id
    assert body["DocNumber"] == "INV-0112"
    assert body["CurrencyRef"] == {"value": "JPY", "name": "Japanese Yen"}
    assert body["TotalAmt"] == 275000
    assert body["Balance"] == 165000
    assert body["CustomerRef"]["name"] == "Sakura Design Studio K.K."
    assert body["BillEmail"] == {"Address": "keiri@sakura-design.example"}
    assert QBO_TIME.fullmatch(body["MetaData"]["LastUpdatedTime"])
    assert body["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    usd = sandbox.invoice_by_number(realm_id, "INV-0103")
    usd_body = (await client.get(f"/v3/company/{realm_id}/invoice/{usd.id}", headers=bearer(tokens))).json()
    assert b'"TotalAmt":1137.5' in json.dumps(usd_body, separators=(",", ":")).encode()
    missing = await client.get(f"/v3/company/{realm_id}/invoice/999999", headers=bearer(tokens))
    assert missing.status_code == 400
    assert missing.json()["Fault"]["Error"][0]["code"] == "610"


async def test_invoice_pdf_is_deterministic(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0101")
    url = f"/v3/company/{realm_id}/invoice/{invoice.id}/pdf"
    first = await client.get(url, headers=bearer(tokens) | {"Accept": "application/pdf"})
    second = await client.get(url, headers=bearer(tokens) | {"Accept": "application/pdf"})
    assert first.headers["content-type"] == "application/pdf"
    assert first.content.startswith(b"%PDF")
    assert first.content == second.content
    sandbox.void_invoice(invoice.id)
    assert (await client.get(url, headers=bearer(tokens))).content != first.content


async def test_change_data_capture_reports_updates_voids_and_deletes(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    since = sandbox.clock.now()
    sandbox.clock.advance(1)
    paid = sandbox.invoice_by_number(realm_id, "INV-0101")
    voided = sandbox.invoice_by_number(realm_id, "INV-0102")
    deleted = sandbox.invoice_by_number(realm_id, "INV-0103")
    sandbox.mark_paid(paid.id)
    sandbox.void_invoice(voided.id)
    sandbox.delete_invoice(deleted.id)
    response = await client.get(
        f"/v3/company/{realm_id}/cdc",
        params={"entities": "Invoice,Payment", "changedSince": since.isoformat()},
        headers=bearer(tokens),
    )
    invoices_part, payments_part = response.json()["CDCResponse"][0]["QueryResponse"]
    by_id = {i["Id"]: i for i in invoices_part["Invoice"]}
    assert set(by_id) == {paid.id, voided.id, deleted.id}
    assert by_id[paid.id]["Balance"] == 0
    assert by_id[voided.id]["TotalAmt"] == 0
    assert by_id[voided.id]["PrivateNote"].startswith("Voided")
    assert by_id[deleted.id] == {
        "domain": "QBO",
        "status": "Deleted",
        "Id": deleted.id,
        "MetaData": {"LastUpdatedTime": by_id[deleted.id]["MetaData"]["LastUpdatedTime"]},
    }
    assert len(payments_part["Payment"]) == 1

    too_old = await client.get(
        f"/v3/company/{realm_id}/cdc",
        params={"entities": "Invoice", "changedSince": (NOW - timedelta(days=31)).isoformat()},
        headers=bearer(tokens),
    )
    assert too_old.status_code == 400


# ----- payments ------------------------------------------------------------------------------------------


def payment_payload(invoice: Any, amount: str) -> str:
    return (
        f'{{"CustomerRef":{{"value":"{invoice.customer_id}"}},"TotalAmt":{amount},"TxnDate":"2026-11-25",'
        f'"PaymentRefNum":"pi_123","Line":[{{"Amount":{amount},'
        f'"LinkedTxn":[{{"TxnId":"{invoice.id}","TxnType":"Invoice"}}]}}]}}'
    )


async def test_payment_is_idempotent_per_request_id(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0103")  # USD 1,137.50
    headers = bearer(tokens) | {"Content-Type": "application/json"}
    url = f"/v3/company/{realm_id}/payment"
    body = payment_payload(invoice, "137.50")
    payments_before = len(sandbox.realms[realm_id].payments)
    first = await client.post(url, params={"requestid": "req-1", "minorversion": "75"}, content=body, headers=headers)
    again = await client.post(url, params={"requestid": "req-1", "minorversion": "75"}, content=body, headers=headers)
    assert first.status_code == 200
    assert first.content == again.content
    assert len(sandbox.realms[realm_id].payments) == payments_before + 1
    assert len(invoice.payment_ids) == 1
    payment = first.json()["Payment"]
    assert payment["TotalAmt"] == 137.5
    assert payment["Line"][0]["LinkedTxn"] == [{"TxnId": invoice.id, "TxnType": "Invoice"}]
    assert invoice.balance_minor == 100000

    second = await client.post(
        url, params={"requestid": "req-2"}, content=payment_payload(invoice, "1000"), headers=headers
    )
    assert second.status_code == 200
    assert invoice.balance_minor == 0


async def test_overpaying_an_invoice_is_a_business_validation_fault(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0103")
    response = await client.post(
        f"/v3/company/{realm_id}/payment",
        params={"requestid": "r-over"},
        content=payment_payload(invoice, "5000"),
        headers=bearer(tokens) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == "6000"
    assert invoice.paid_minor == 0


async def test_deleting_a_payment_needs_the_current_sync_token(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0104")
    payment = sandbox.mark_paid(invoice.id)
    url = f"/v3/company/{realm_id}/payment"
    headers = bearer(tokens)
    stale = await client.post(
        url, params={"operation": "delete"}, json={"Id": payment.id, "SyncToken": "7"}, headers=headers
    )
    assert stale.json()["Fault"]["Error"][0]["code"] == "5010"
    deleted = await client.post(
        url, params={"operation": "delete"}, json={"Id": payment.id, "SyncToken": "0"}, headers=headers
    )
    assert deleted.json()["Payment"] == {"domain": "QBO", "status": "Deleted", "Id": payment.id}
    assert invoice.balance_minor == invoice.total_minor
    text = f"select * from Payment where Id = '{payment.id}'"  # noqa: S608 - QBO query, not SQL
    listed = await query(client, realm_id, tokens, text)
    assert listed.json()["QueryResponse"] == {}


# ----- faults and webhooks ---------------------------------------------------------------------------------


async def test_injected_throttling_uses_the_fault_shape(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    sandbox.fail_next(1, status=429, retry_after=2)
    throttled = await query(client, realm_id, tokens, "select * from Invoice")
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "2"
    assert throttled.json()["Fault"]["Error"][0]["code"] == "3001"
    assert (await query(client, realm_id, tokens, "select * from Invoice")).status_code == 200
    sandbox.start_storm(503, rate=0.5, seed=3)
    statuses = [(await query(client, realm_id, tokens, "select * from Invoice")).status_code for _ in range(20)]
    sandbox.stop_storm()
    assert set(statuses) == {200, 503}


async def test_webhook_payloads_and_signature(sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0101")
    body, signature = invoice_webhook(sandbox, realm_id, [invoice.id])
    digest = hmac.new(sandbox.webhook_verifier.encode(), body, hashlib.sha256).digest()
    assert signature == base64.b64encode(digest).decode() == sign_webhook(body, sandbox.webhook_verifier)
    (entity,) = json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"]
    assert entity["name"] == "Invoice"
    assert entity["id"] == invoice.id
    assert entity["operation"] == "Update"
    assert json.loads(body)["eventNotifications"][0]["realmId"] == realm_id

    cloud_body, cloud_signature = invoice_webhook(sandbox, realm_id, [invoice.id], operation="Void", cloudevents=True)
    (event,) = json.loads(cloud_body)
    assert event["specversion"] == "1.0"
    assert event["type"] == "qbo.invoice.voided.v1"
    assert (event["intuitentityid"], event["intuitaccountid"]) == (invoice.id, realm_id)
    assert cloud_signature == sign_webhook(cloud_body, sandbox.webhook_verifier)


async def test_preferences_accounts_and_sparse_selects(client: httpx.AsyncClient, sandbox: QuickBooksSandbox) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    prefs = (await query(client, realm_id, tokens, "select * from Preferences")).json()["QueryResponse"]
    assert prefs["Preferences"][0]["CurrencyPrefs"]["HomeCurrency"] == {"value": "USD"}
    banks = await query(client, realm_id, tokens, "select * from Account where AccountType = 'Bank'")
    assert [a["Name"] for a in banks.json()["QueryResponse"]["Account"]] == ["Checking", "Savings"]
    sparse = await query(client, realm_id, tokens, "select Id, Balance from Invoice where Id = '10'")
    (row,) = sparse.json()["QueryResponse"]["Invoice"]
    assert row["sparse"] is True
    assert set(row) == {"Id", "SyncToken", "domain", "sparse", "Balance"}


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"DepositToAccountRef": {"value": "79"}}, "6000"),
        ({"DepositToAccountRef": {"value": "9999"}}, "2500"),
        ({"PaymentRefNum": "x" * 22}, "2050"),
        ({"CurrencyRef": {"value": "EUR"}}, "6000"),
    ],
)
async def test_payment_field_validation(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox, extra: dict[str, Any], code: str
) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0104")
    body = json.loads(payment_payload(invoice, "10")) | extra
    response = await client.post(f"/v3/company/{realm_id}/payment", json=body, headers=bearer(tokens))
    assert response.status_code == 400
    assert response.json()["Fault"]["Error"][0]["code"] == code
    assert invoice.paid_minor == 0


async def test_payment_deposits_to_the_named_bank_account(
    client: httpx.AsyncClient, sandbox: QuickBooksSandbox
) -> None:
    realm_id = main_realm(sandbox)
    tokens = await connect(client, realm_id)
    invoice = sandbox.invoice_by_number(realm_id, "INV-0104")
    body = json.loads(payment_payload(invoice, "10")) | {"DepositToAccountRef": {"value": "35"}}
    created = (await client.post(f"/v3/company/{realm_id}/payment", json=body, headers=bearer(tokens))).json()
    assert created["Payment"]["DepositToAccountRef"] == {"value": "35"}
    default = json.loads(payment_payload(invoice, "10"))
    second = (await client.post(f"/v3/company/{realm_id}/payment", json=default, headers=bearer(tokens))).json()
    assert second["Payment"]["DepositToAccountRef"] == {"value": "4"}
    assert invoice.paid_minor == 2000
