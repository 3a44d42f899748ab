"""Xero sandbox server: login, identity and API origins on one Litestar app, plus webhook helpers.

Paths are the real ones: `/identity/connect/authorize` (login.xero.com), `/connect/token` and
`/connect/revocation` (identity.xero.com), `/connections` and `/api.xro/2.0/...` (api.xero.com).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.types import ExceptionHandlersMap

from ledger.sandbox.common import (
    LostAnswers,
    SandboxHTTPError,
    json_bytes,
    json_response,
)
from ledger.sandbox.oauth import (
    AccessRecord,
    OAuthError,
)
from ledger.sandbox.xero_auth import (
    AUTHORIZE_PARAMS,
    AUTHORIZE_PATH,
    authenticate,
    authorize,
    revoke_token,
    token_response,
)
from ledger.sandbox.xero_filters import (
    QueryParseError,
)
from ledger.sandbox.xero_services import (
    ListQuery,
    contact_fields,
    contact_filter,
    create_payments,
    delete_payment,
    idempotent,
    invoice_fields,
    invoice_filter,
    payment_fields,
    select,
)
from ledger.sandbox.xero_state import (
    READ_CONTACTS,
    READ_INVOICES,
    READ_PAYMENTS,
    READ_SETTINGS,
    WRITE_PAYMENTS,
    XeroAuthError,
    XeroNotFound,
    XeroSandbox,
    XeroTenant,
    XeroValidationError,
)
from ledger.sandbox.xero_wire import (
    account_json,
    api_exception,
    connection_json,
    contact_json,
    envelope,
    invoice_json,
    invoice_pdf,
    organisation_json,
    payment_json,
    problem,
    validation_error,
)

__all__ = [
    "XeroSandbox",
    "create_app",
    "intent_to_receive",
    "invoice_webhook",
    "sign_webhook",
    "webhook_event",
    "webhook_payload",
]

_NOT_FOUND = "The resource you're looking for cannot be found"

IdempotencyHeader = Annotated[str | None, HeaderParameter(name="Idempotency-Key", required=False)]
TenantHeader = Annotated[str | None, HeaderParameter(name="xero-tenant-id", required=False)]


Sandbox = NamedDependency[XeroSandbox]
Access = NamedDependency[AccessRecord]

# ----- HTTP handlers -----------------------------------------------------------------------------------


def _provider_name(sandbox: XeroSandbox, access: AccessRecord) -> str:
    app = sandbox.oauth.apps.get(access.grant.client_id)
    return app.name if app else "Sandbox App"


def _api_json(sandbox: XeroSandbox, tenant: XeroTenant, payload: object) -> Response[bytes]:
    return json_response(payload, headers=sandbox.rate_headers(tenant.tenant_id))


@get(AUTHORIZE_PATH)
async def authorize_page(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[Any]:
    """login.xero.com consent page."""
    return authorize(sandbox, dict(request.query_params), None, [])


@post(AUTHORIZE_PATH)
async def authorize_submit(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[Any]:
    """Allow/Deny from the consent page."""
    form = await request.form()
    params = {k: str(form.get(k)) for k in AUTHORIZE_PARAMS if form.get(k) is not None}
    return authorize(
        sandbox,
        params,
        str(form.get("decision") or "") or None,
        [str(v) for k, v in form.multi_items() if k == "tenant"],
    )


@post("/connect/token")
async def token(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[bytes]:
    """identity.xero.com token endpoint."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        body = token_response(sandbox, request.headers.get("authorization"), form)
    except OAuthError as exc:
        return json_response({"error": exc.error}, status=exc.status)
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@post("/connect/revocation")
async def revocation(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[bytes]:
    """identity.xero.com revocation endpoint."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        revoke_token(sandbox, request.headers.get("authorization"), form)
    except OAuthError as exc:
        return json_response({"error": exc.error}, status=exc.status)
    return Response(content=b"", status_code=200)


@get(["/connections", "/Connections"])
async def list_connections(
    sandbox: Sandbox,
    access: Access,
    auth_event_id: Annotated[str | None, QueryParameter(name="authEventId")] = None,
) -> Response[bytes]:
    """Tenants this token's user has connected to the app."""
    found = sandbox.connections_for(access, auth_event_id.lower() if auth_event_id else None)
    return json_response([connection_json(c, sandbox.tenants[c.tenant_id]) for c in found])


@delete(["/connections/{connection_id:str}", "/Connections/{connection_id:str}"], status_code=204)
async def delete_connection(sandbox: Sandbox, access: Access, connection_id: FromPath[str]) -> None:
    """Disconnect one tenant."""
    ids = {c.connection_id for c in sandbox.connections_for(access)}
    if connection_id.lower() not in ids:
        raise XeroNotFound(connection_id)
    del sandbox.connections[connection_id.lower()]


@get("/api.xro/2.0/Organisation")
async def get_organisation(sandbox: Sandbox, access: Access, xero_tenant_id: TenantHeader = None) -> Response[bytes]:
    """The organisation of the xero-tenant-id."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_SETTINGS | READ_INVOICES)
    body = envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Organisations", [organisation_json(tenant)])
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Accounts")
async def list_accounts(sandbox: Sandbox, access: Access, xero_tenant_id: TenantHeader = None) -> Response[bytes]:
    """The chart of accounts (to pick the bank account payments are recorded against)."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_SETTINGS)
    items = [account_json(a, tenant) for a in tenant.accounts.values()]
    return _api_json(sandbox, tenant, envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Accounts", items))


@get("/api.xro/2.0/Invoices")
async def list_invoices(
    request: Request[Any, Any, Any], sandbox: Sandbox, access: Access, xero_tenant_id: TenantHeader = None
) -> Response[bytes]:
    """Invoices with paging, If-Modified-Since, Statuses, IDs, where and order."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_INVOICES)
    query = ListQuery.parse(dict(request.query_params), request.headers.get("if-modified-since"))
    rows, paging = select(tenant.invoices.values(), query, invoice_fields(tenant), "Invoice", invoice_filter(query))
    # Without paging Xero leaves out line items; with paging it includes them.
    items = [invoice_json(i, tenant, with_lines=paging is not None, summary=query.summary_only) for i in rows]
    body = envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Invoices", items, paging)
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Invoices/{invoice_ref:str}")
async def get_invoice(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    access: Access,
    invoice_ref: FromPath[str],
    xero_tenant_id: TenantHeader = None,
) -> Response[bytes]:
    """One invoice by InvoiceID or InvoiceNumber; `Accept: application/pdf` returns the PDF copy."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_INVOICES)
    invoice = tenant.invoices.get(invoice_ref.lower()) or tenant.invoices.get(tenant.numbers.get(invoice_ref, ""))
    if invoice is None:
        raise XeroNotFound(invoice_ref)
    if "application/pdf" in request.headers.get("accept", ""):
        return Response(
            content=invoice_pdf(invoice, tenant),
            media_type="application/pdf",
            headers=sandbox.rate_headers(tenant.tenant_id),
        )
    body = envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Invoices", [invoice_json(invoice, tenant)])
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Contacts")
async def list_contacts(
    request: Request[Any, Any, Any], sandbox: Sandbox, access: Access, xero_tenant_id: TenantHeader = None
) -> Response[bytes]:
    """Contacts with IDs, paging, where and order."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_CONTACTS)
    query = ListQuery.parse(dict(request.query_params), request.headers.get("if-modified-since"))
    rows, paging = select(tenant.contacts.values(), query, contact_fields(), "Contact", contact_filter(query))
    body = envelope(
        _provider_name(sandbox, access), sandbox.clock.now(), "Contacts", [contact_json(c) for c in rows], paging
    )
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Contacts/{contact_id:str}")
async def get_contact(
    sandbox: Sandbox, access: Access, contact_id: FromPath[str], xero_tenant_id: TenantHeader = None
) -> Response[bytes]:
    """One contact."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_CONTACTS)
    contact = tenant.contacts.get(contact_id.lower())
    if contact is None:
        raise XeroNotFound(contact_id)
    body = envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Contacts", [contact_json(contact)])
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Payments")
async def list_payments(
    request: Request[Any, Any, Any], sandbox: Sandbox, access: Access, xero_tenant_id: TenantHeader = None
) -> Response[bytes]:
    """Payments with where, order, paging and If-Modified-Since."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_PAYMENTS)
    query = ListQuery.parse(dict(request.query_params), request.headers.get("if-modified-since"))
    since = query.since
    rows, paging = select(
        tenant.payments.values(),
        query,
        payment_fields(tenant),
        "Payment",
        lambda p: since is None or p.updated_at >= since,
    )
    body = envelope(
        _provider_name(sandbox, access),
        sandbox.clock.now(),
        "Payments",
        [payment_json(p, tenant) for p in rows],
        paging,
    )
    return _api_json(sandbox, tenant, body)


@get("/api.xro/2.0/Payments/{payment_id:str}")
async def get_payment(
    sandbox: Sandbox, access: Access, payment_id: FromPath[str], xero_tenant_id: TenantHeader = None
) -> Response[bytes]:
    """One payment."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, READ_PAYMENTS)
    payment = tenant.payments.get(payment_id.lower())
    if payment is None:
        raise XeroNotFound(payment_id)
    body = envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Payments", [payment_json(payment, tenant)])
    return _api_json(sandbox, tenant, body)


@put("/api.xro/2.0/Payments")
async def put_payments(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    access: Access,
    xero_tenant_id: TenantHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Response[bytes]:
    """Record payments against invoices (honours Idempotency-Key)."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, WRITE_PAYMENTS)
    summarize = {k.lower(): v for k, v in request.query_params.items()}.get(
        "summarizeerrors", "true"
    ).lower() != "false"
    body = await request.body()

    def produce() -> Response[bytes]:
        results = create_payments(sandbox, tenant, body, summarize)
        return _api_json(
            sandbox, tenant, envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Payments", results)
        )

    return idempotent(sandbox, access, tenant, idempotency_key, produce)


@post("/api.xro/2.0/Payments/{payment_id:str}")
async def post_payment(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    access: Access,
    payment_id: FromPath[str],
    xero_tenant_id: TenantHeader = None,
    idempotency_key: IdempotencyHeader = None,
) -> Response[bytes]:
    """Delete (reverse) a payment with `{"Status": "DELETED"}`."""
    tenant = sandbox.tenant_for(access, xero_tenant_id, WRITE_PAYMENTS)
    body = await request.body()

    def produce() -> Response[bytes]:
        payment = delete_payment(sandbox, tenant, payment_id, body)
        return _api_json(
            sandbox,
            tenant,
            envelope(_provider_name(sandbox, access), sandbox.clock.now(), "Payments", [payment_json(payment, tenant)]),
        )

    return idempotent(sandbox, access, tenant, idempotency_key, produce)


# ----- errors, faults and the app factory --------------------------------------------------------------


def _auth_error(_: Request[Any, Any, Any], exc: XeroAuthError) -> Response[bytes]:
    title = "Unauthorized" if exc.status == 401 else "Forbidden"
    headers = {}
    if exc.status == 401:
        reason = "insufficient_scope" if exc.detail == "AuthorizationUnsuccessful" else "invalid_token"
        headers["WWW-Authenticate"] = f'Bearer error="{reason}"'
    return json_response(problem(exc.status, title, exc.detail), exc.status, headers)


def _not_found(_: Request[Any, Any, Any], __: Exception) -> Response[str]:
    return Response(content=_NOT_FOUND, status_code=404, media_type=MediaType.TEXT)


def _validation(_: Request[Any, Any, Any], exc: XeroValidationError) -> Response[bytes]:
    return json_response(validation_error(exc.elements), 400)


def _query_error(_: Request[Any, Any, Any], exc: QueryParseError) -> Response[bytes]:
    return json_response(api_exception(16, "QueryParseException", str(exc)), 400)


def _rendered(_: Request[Any, Any, Any], exc: SandboxHTTPError) -> Response[bytes]:
    return exc.to_response()


def _method_not_allowed(_: Request[Any, Any, Any], __: Exception) -> Response[str]:
    return Response(
        content="The requested resource does not support the HTTP method", status_code=405, media_type=MediaType.TEXT
    )


def fault_response(status: int, retry_after: int | None) -> Response[bytes]:
    """An injected failure as Xero's gateway sends it (429 carries Retry-After and X-Rate-Limit-Problem)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if status == 429:
        headers["X-Rate-Limit-Problem"] = "minute"
        return json_response(problem(429, "Too Many Requests", "Rate limit exceeded"), 429, headers)
    titles = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    title = titles.get(status, "Error")
    return json_response(problem(status, title, title), status, headers)


def create_app(sandbox: XeroSandbox) -> Litestar:
    """A Litestar app serving login, identity and API paths of Xero from the given sandbox state."""

    async def gatekeeper(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        """Log the call, then serve injected faults and the per-tenant minute limit before the handler."""
        path = request.url.path
        sandbox.log.record(request.method, path, dict(request.query_params), dict(request.headers))
        fault = sandbox.faults.take(path)
        if fault is not None:
            return fault_response(fault.status, fault.retry_after)
        tenant_id = request.headers.get("xero-tenant-id")
        if path.startswith("/api.xro/") and tenant_id and (wait := sandbox.count_call(tenant_id.lower())) is not None:
            return fault_response(429, wait)
        return None

    async def provide_access(request: Request[Any, Any, Any]) -> AccessRecord:
        return authenticate(sandbox, request.headers.get("authorization"))

    handlers: ExceptionHandlersMap = {
        XeroAuthError: _auth_error,
        XeroNotFound: _not_found,
        NotFoundException: _not_found,
        MethodNotAllowedException: _method_not_allowed,
        XeroValidationError: _validation,
        QueryParseError: _query_error,
        SandboxHTTPError: _rendered,
    }
    return Litestar(
        route_handlers=[
            authorize_page,
            authorize_submit,
            token,
            revocation,
            list_connections,
            delete_connection,
            get_organisation,
            list_accounts,
            list_invoices,
            get_invoice,
            list_contacts,
            get_contact,
            list_payments,
            get_payment,
            put_payments,
            post_payment,
        ],
        dependencies={
            "sandbox": Provide(lambda: sandbox, use_cache=True, sync_to_thread=False),
            "access": Provide(provide_access),
        },
        before_request=gatekeeper,
        middleware=[DefineMiddleware(LostAnswers, faults=sandbox.faults)],
        exception_handlers=handlers,
        openapi_config=None,
        logging_config=None,
    )


# ----- webhooks ------------------------------------------------------------------------------------------

_CATEGORY_PATHS = {"INVOICE": "Invoices", "CONTACT": "Contacts", "CREDITNOTE": "CreditNotes"}


def webhook_event(
    tenant_id: str,
    resource_id: str,
    *,
    at: datetime,
    category: str = "INVOICE",
    event_type: str = "UPDATE",
    api_base: str = "https://api.xero.com",
) -> dict[str, str]:
    """One Xero webhook event as it appears in the `events` array."""
    utc = at.astimezone(UTC)
    return {
        "resourceUrl": f"{api_base}/api.xro/2.0/{_CATEGORY_PATHS[category]}/{resource_id}",
        "resourceId": resource_id,
        "eventDateUtc": utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}",
        "eventType": event_type,
        "eventCategory": category,
        "tenantId": tenant_id,
        "tenantType": "ORGANISATION",
    }


def webhook_payload(
    events: Sequence[Mapping[str, str]], *, first_sequence: int = 1, entropy: str | None = None
) -> bytes:
    """The raw JSON body Xero POSTs to a webhook URL."""
    rng = random.Random(first_sequence)  # noqa: S311 - entropy is a nonce, not a secret
    payload = {
        "events": list(events),
        "firstEventSequence": first_sequence if events else 0,
        "lastEventSequence": first_sequence + len(events) - 1 if events else 0,
        "entropy": entropy or "".join(rng.choice(string.ascii_uppercase) for _ in range(20)),
    }
    return json_bytes(payload)


def sign_webhook(body: bytes, key: str) -> str:
    """The `x-xero-signature` header: base64 HMAC-SHA256 of the raw body with the webhook key."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def invoice_webhook(
    sandbox: XeroSandbox,
    invoice_ids: Sequence[str],
    *,
    event_type: str = "UPDATE",
    api_base: str = "https://api.xero.com",
) -> tuple[bytes, str]:
    """Body and signature announcing changes to invoices of this sandbox (signed with its webhook key)."""
    events = []
    for invoice_id in invoice_ids:
        invoice = sandbox.invoice(invoice_id)
        events.append(
            webhook_event(
                invoice.tenant_id, invoice.invoice_id, at=invoice.updated_at, event_type=event_type, api_base=api_base
            )
        )
    body = webhook_payload(events, first_sequence=sandbox.webhook_sequence + 1)
    sandbox.webhook_sequence += len(events)
    return body, sign_webhook(body, sandbox.webhook_key)


def intent_to_receive(key: str, *, valid: bool = True) -> tuple[bytes, str]:
    """Xero's 'intent to receive' check: an empty event list, correctly signed or not."""
    body = webhook_payload([], first_sequence=0)
    return body, sign_webhook(body, key if valid else key + "-wrong")
