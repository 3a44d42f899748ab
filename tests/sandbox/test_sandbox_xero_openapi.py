"""Xero sandbox responses checked against Xero's official OpenAPI documents with openapi-core."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.configurations import Config
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from werkzeug.datastructures import Headers, ImmutableMultiDict

from ledger.sandbox.common import Clock
from ledger.sandbox.xero import XeroSandbox, create_app, invoice_webhook

SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs" / "xero"
NOW = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
REDIRECT = "http://127.0.0.1:8000/ledger/callback/xero"
SCOPES = "openid accounting.transactions accounting.contacts accounting.settings offline_access"
# Xero's identity service writes UTC times without an offset and with 7 fractional digits, exactly like
# the example in xero-identity.yaml; RFC 3339 `date-time` would reject its own example, so accept that form too.
_XERO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?")

pytestmark = pytest.mark.skipif(not SPECS.is_dir(), reason="shared Xero OpenAPI documents not present")


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if _XERO_UTC.fullmatch(value):
        return True
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None
    except ValueError:
        return False


def _load(name: str) -> Any:
    with (SPECS / name).open() as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe loader


@pytest.fixture(scope="module")
def accounting() -> OpenAPI:
    # Xero's document has string defaults on boolean fields, so the document itself is not re-validated.
    return OpenAPI.from_dict(_load("xero_accounting.yaml"), config=Config(spec_validator_cls=None))


@pytest.fixture(scope="module")
def identity() -> OpenAPI:
    config = Config(spec_validator_cls=None, extra_format_validators={"date-time": _date_time})
    return OpenAPI.from_dict(_load("xero-identity.yaml"), config=config)


@dataclass
class SpecRequest:
    """An httpx request in the shape openapi-core reads."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None
    content_type: str


@dataclass
class SpecResponse:
    """An httpx response in the shape openapi-core reads."""

    status_code: int
    content_type: str
    headers: Headers
    data: bytes


def adapt(response: httpx.Response, path: str | None = None) -> tuple[SpecRequest, SpecResponse]:
    request = response.request
    parameters = RequestParameters(
        query=ImmutableMultiDict(list(request.url.params.multi_items())), header=Headers(list(request.headers.items()))
    )
    spec_request = SpecRequest(
        "https://api.xero.com",
        path or request.url.path,
        request.method.lower(),
        parameters,
        request.content or None,
        request.headers.get("content-type", "application/json"),
    )
    spec_response = SpecResponse(
        response.status_code,
        response.headers.get("content-type", ""),
        Headers(list(response.headers.items())),
        response.content,
    )
    return spec_request, spec_response


@pytest.fixture
async def connected() -> AsyncIterator[tuple[httpx.AsyncClient, XeroSandbox, dict[str, str]]]:
    sandbox = XeroSandbox.with_demo_data(clock=Clock(frozen_at=NOW))
    sandbox.register_app("spec-client", "spec-secret", [REDIRECT])
    tenant = next(iter(sandbox.tenants))
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(transport=transport, base_url="https://api.xero.com") as client:
        form = {
            "client_id": "spec-client",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": SCOPES,
            "decision": "allow",
            "tenant": tenant,
        }
        location = (await client.post("/identity/connect/authorize", data=form)).headers["location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        token = await client.post(
            "/connect/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
            auth=("spec-client", "spec-secret"),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}", "xero-tenant-id": tenant}
        yield client, sandbox, headers


async def test_accounting_responses_match_the_official_document(
    accounting: OpenAPI, connected: tuple[httpx.AsyncClient, XeroSandbox, dict[str, str]]
) -> None:
    client, sandbox, headers = connected
    tenant = headers["xero-tenant-id"]
    invoice = sandbox.invoice_by_number(tenant, "INV-0106")
    contact_id = invoice.contact_id
    good = {
        "Invoice": {"InvoiceID": invoice.invoice_id},
        "Account": {"Code": "090"},
        "Date": "2026-11-25",
        "Amount": 10.5,
        "Reference": "spec",
    }
    calls = [
        ("GET", "/api.xro/2.0/Invoices", {"page": "1", "pageSize": "5"}, None, 200),
        ("GET", "/api.xro/2.0/Invoices", {"Statuses": "AUTHORISED,PAID,VOIDED,DRAFT"}, None, 200),
        ("GET", f"/api.xro/2.0/Invoices/{invoice.invoice_id}", {}, None, 200),
        ("GET", "/api.xro/2.0/Contacts", {"page": "1"}, None, 200),
        ("GET", f"/api.xro/2.0/Contacts/{contact_id}", {}, None, 200),
        ("PUT", "/api.xro/2.0/Payments", {}, {"Payments": [good]}, 200),
        ("PUT", "/api.xro/2.0/Payments", {}, {"Payments": [{**good, "Account": {"Code": "200"}}]}, 400),
        ("GET", "/api.xro/2.0/Payments", {}, None, 200),
        ("GET", "/api.xro/2.0/Accounts", {}, None, 200),
        ("GET", "/api.xro/2.0/Organisation", {}, None, 200),
    ]
    for method, path, params, body, status in calls:
        response = await client.request(method, path, params=params, json=body, headers=headers)
        assert response.status_code == status, (path, response.text)
        accounting.validate_response(*adapt(response))


async def test_the_validator_does_reject_a_wrong_shape(
    accounting: OpenAPI, connected: tuple[httpx.AsyncClient, XeroSandbox, dict[str, str]]
) -> None:
    """Guards the test above: a broken invoice (amount as text, bad status) must not pass."""
    client, _, headers = connected
    response = await client.get("/api.xro/2.0/Invoices", params={"page": "1", "pageSize": "1"}, headers=headers)
    body = response.json()
    body["Invoices"][0]["AmountDue"] = "lots"
    body["Invoices"][0]["Status"] = "MAYBE"
    broken = httpx.Response(200, json=body, request=response.request)
    with pytest.raises(OpenAPIError):
        accounting.validate_response(*adapt(broken))


async def test_connections_match_the_identity_document(
    identity: OpenAPI, connected: tuple[httpx.AsyncClient, XeroSandbox, dict[str, str]]
) -> None:
    client, _, headers = connected
    response = await client.get("/connections", headers={"Authorization": headers["Authorization"]})
    assert response.status_code == 200
    assert len(response.json()) == 1
    identity.validate_response(*adapt(response, path="/Connections"))


async def test_webhook_payload_matches_the_webhooks_document(
    connected: tuple[httpx.AsyncClient, XeroSandbox, dict[str, str]],
) -> None:
    _, sandbox, headers = connected
    schema = _load("xero-webhooks.yaml")["components"]["schemas"]["WebhookEvent"]
    invoice = sandbox.invoice_by_number(headers["xero-tenant-id"], "INV-0101")
    body, _ = invoice_webhook(sandbox, [invoice.invoice_id, invoice.invoice_id])
    # Formats stay annotations (as JSON Schema 2020-12 says): Xero's own examples send eventDateUtc without an offset.
    jsonschema.validate(json.loads(body), schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**json.loads(body), "lastEventSequence": 0}, schema, cls=jsonschema.Draft202012Validator)
