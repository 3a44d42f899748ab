"""QuickBooks Online sandbox server: authorize, token and v3 API origins on one Litestar app, plus webhooks.

Paths are the real ones: `/connect/oauth2` (appcenter.intuit.com), `/oauth2/v1/tokens/bearer` and
`/oauth2/v1/tokens/revoke` (oauth.platform.intuit.com), `/v3/company/{realmId}/...` (quickbooks.api.intuit.com).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Litestar, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.exceptions import MethodNotAllowedException, NotFoundException
from litestar.middleware import DefineMiddleware
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.types import ExceptionHandlersMap

from ledger.sandbox.common import LostAnswers, json_bytes, json_response, loads_json
from ledger.sandbox.oauth import (
    AccessRecord,
    OAuthError,
)
from ledger.sandbox.quickbooks_auth import (
    AUTHORIZE_PARAMS,
    AUTHORIZE_PATH,
    authenticate,
    authorize,
    revoke_token,
    token_response,
)
from ledger.sandbox.quickbooks_query import (
    QueryError,
)
from ledger.sandbox.quickbooks_services import payment_operation, run_cdc, run_query, with_request_id
from ledger.sandbox.quickbooks_state import (
    QboAuthError,
    QboFault,
    QuickBooksSandbox,
    not_found,
)
from ledger.sandbox.quickbooks_wire import (
    auth_fault,
    customer_json,
    fault,
    fault_body,
    invoice_json,
    invoice_pdf,
    payment_json,
    preferences_json,
    qbo_time,
    response_time,
)

__all__ = [
    "QuickBooksSandbox",
    "cloudevents_payload",
    "create_app",
    "invoice_webhook",
    "sign_webhook",
    "webhook_payload",
]

Json = dict[str, Any]


Sandbox = NamedDependency[QuickBooksSandbox]
Access = NamedDependency[AccessRecord]

# ----- HTTP handlers ------------------------------------------------------------------------------------


def _api_bytes(body: bytes, status: int = 200) -> Response[bytes]:
    return Response(
        content=body,
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers={"intuit_tid": uuid.uuid4().hex[:24]},
    )


def _api(payload: Json, status: int = 200) -> Response[bytes]:
    return _api_bytes(json_bytes(payload), status)


@get(AUTHORIZE_PATH)
async def authorize_page(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[Any]:
    """appcenter.intuit.com consent page."""
    return authorize(sandbox, dict(request.query_params), None, None)


@post(AUTHORIZE_PATH)
async def authorize_submit(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[Any]:
    """Connect/Cancel from the consent page."""
    form = await request.form()
    params = {k: str(form.get(k)) for k in AUTHORIZE_PARAMS if form.get(k) is not None}
    realm = form.get("realmId")
    return authorize(sandbox, params, str(form.get("decision") or "") or None, str(realm) if realm else None)


@post("/oauth2/v1/tokens/bearer")
async def token(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[bytes]:
    """oauth.platform.intuit.com token endpoint."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    try:
        body = token_response(sandbox, request.headers.get("authorization"), form)
    except OAuthError as exc:
        return json_response({"error": exc.error}, status=exc.status)
    return json_response(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _revoke_body(request: Request[Any, Any, Any]) -> dict[str, str]:
    if "json" not in request.headers.get("content-type", ""):
        return {k: str(v) for k, v in (await request.form()).items()}
    try:
        raw = loads_json(await request.body())
    except ValueError as exc:
        raise OAuthError("invalid_request") from exc
    return {k: str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


@post("/oauth2/v1/tokens/revoke")
async def revoke(request: Request[Any, Any, Any], sandbox: Sandbox) -> Response[bytes]:
    """oauth.platform.intuit.com revocation endpoint (Intuit documents a JSON body; a form works too)."""
    try:
        body = await _revoke_body(request)
        revoke_token(sandbox, request.headers.get("authorization"), body)
    except OAuthError as exc:
        return json_response({"error": exc.error}, status=exc.status)
    return Response(content=b"", status_code=200)


@get("/v3/company/{realm_id:str}/query")
async def query_get(
    sandbox: Sandbox,
    access: Access,
    realm_id: FromPath[str],
    text: Annotated[str | None, QueryParameter(name="query")] = None,
) -> Response[bytes]:
    """Run a query given in the `query` parameter."""
    realm = sandbox.realm_for(access, realm_id)
    if not text:
        raise QboFault("4000", "Error parsing query", 'QueryParserError: Encountered "<EOF>" at line 1.')
    return _api({"QueryResponse": run_query(realm, text), "time": response_time(sandbox.clock.now())})


@post("/v3/company/{realm_id:str}/query", status_code=200)
async def query_post(
    request: Request[Any, Any, Any], sandbox: Sandbox, access: Access, realm_id: FromPath[str]
) -> Response[bytes]:
    """Run a query sent as the request body (Content-Type application/text)."""
    realm = sandbox.realm_for(access, realm_id)
    text = (await request.body()).decode("utf-8", errors="replace")
    return _api({"QueryResponse": run_query(realm, text), "time": response_time(sandbox.clock.now())})


@get("/v3/company/{realm_id:str}/cdc")
async def cdc(
    sandbox: Sandbox,
    access: Access,
    realm_id: FromPath[str],
    entities: FromQuery[str | None] = None,
    changed_since: Annotated[str | None, QueryParameter(name="changedSince")] = None,
) -> Response[bytes]:
    """Change data capture."""
    realm = sandbox.realm_for(access, realm_id)
    return _api(run_cdc(realm, entities, changed_since, sandbox.clock.now()))


@get("/v3/company/{realm_id:str}/invoice/{invoice_id:str}")
async def read_invoice(
    sandbox: Sandbox, access: Access, realm_id: FromPath[str], invoice_id: FromPath[str]
) -> Response[bytes]:
    """Read one invoice."""
    realm = sandbox.realm_for(access, realm_id)
    invoice = realm.invoices.get(invoice_id)
    if invoice is None:
        raise not_found()
    return _api({"Invoice": invoice_json(invoice, realm), "time": response_time(sandbox.clock.now())})


@get("/v3/company/{realm_id:str}/invoice/{invoice_id:str}/pdf")
async def invoice_pdf_endpoint(
    sandbox: Sandbox, access: Access, realm_id: FromPath[str], invoice_id: FromPath[str]
) -> Response[bytes]:
    """The invoice as a PDF."""
    realm = sandbox.realm_for(access, realm_id)
    invoice = realm.invoices.get(invoice_id)
    if invoice is None:
        raise not_found()
    return Response(content=invoice_pdf(invoice, realm), media_type="application/pdf")


@get("/v3/company/{realm_id:str}/customer/{customer_id:str}")
async def read_customer(
    sandbox: Sandbox, access: Access, realm_id: FromPath[str], customer_id: FromPath[str]
) -> Response[bytes]:
    """Read one customer."""
    realm = sandbox.realm_for(access, realm_id)
    customer = realm.customers.get(customer_id)
    if customer is None:
        raise not_found()
    return _api({"Customer": customer_json(customer, realm), "time": response_time(sandbox.clock.now())})


@get("/v3/company/{realm_id:str}/payment/{payment_id:str}")
async def read_payment(
    sandbox: Sandbox, access: Access, realm_id: FromPath[str], payment_id: FromPath[str]
) -> Response[bytes]:
    """Read one payment."""
    realm = sandbox.realm_for(access, realm_id)
    payment = realm.payments.get(payment_id)
    if payment is None:
        raise not_found()
    return _api({"Payment": payment_json(payment, realm), "time": response_time(sandbox.clock.now())})


@get("/v3/company/{realm_id:str}/companyinfo/{company_id:str}")
async def company_info(
    sandbox: Sandbox, access: Access, realm_id: FromPath[str], company_id: FromPath[str]
) -> Response[bytes]:
    """CompanyInfo (name, country)."""
    realm = sandbox.realm_for(access, realm_id)
    if company_id != realm_id:
        raise not_found()
    info = {
        "CompanyName": realm.company_name,
        "LegalName": realm.company_name,
        "Country": realm.country,
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "1",
        "MetaData": {"CreateTime": qbo_time(realm.created_at), "LastUpdatedTime": qbo_time(realm.created_at)},
    }
    return _api({"CompanyInfo": info, "time": response_time(sandbox.clock.now())})


@get("/v3/company/{realm_id:str}/preferences")
async def preferences(sandbox: Sandbox, access: Access, realm_id: FromPath[str]) -> Response[bytes]:
    """Company preferences (home currency)."""
    realm = sandbox.realm_for(access, realm_id)
    return _api({"Preferences": preferences_json(realm), "time": response_time(sandbox.clock.now())})


@post("/v3/company/{realm_id:str}/payment", status_code=200)
async def post_payment(
    request: Request[Any, Any, Any],
    sandbox: Sandbox,
    access: Access,
    realm_id: FromPath[str],
    requestid: FromQuery[str | None] = None,
    operation: FromQuery[str | None] = None,
) -> Response[bytes]:
    """Create a payment (idempotent per `requestid`) or delete one (`operation=delete`)."""
    realm = sandbox.realm_for(access, realm_id)
    body = await request.body()
    status, answer = with_request_id(
        sandbox, realm, requestid, lambda: payment_operation(sandbox, realm, body, operation)
    )
    return _api_bytes(answer, status)


# ----- errors, faults and the app factory --------------------------------------------------------------


def fault_response(status: int, retry_after: int | None, now: datetime) -> Response[bytes]:
    """An injected failure: 429 is QuickBooks' ThrottleExceeded fault, 5xx a service fault."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if status == 429:
        body = fault(
            "3001",
            "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            "The request limit for this resource has been reached for the current rate limit window.",
            kind="SERVICE",
            now=now,
        )
    else:
        body = fault(
            "10000",
            "An application error has occurred while processing your request",
            f"System Failure Error: HTTP {status}",
            kind="SystemFault",
            now=now,
        )
    return Response(
        content=json_bytes(body), status_code=status, media_type="application/json;charset=UTF-8", headers=headers
    )


def create_app(sandbox: QuickBooksSandbox) -> Litestar:
    """A Litestar app serving the Intuit OAuth and QuickBooks Online API paths from the given sandbox state."""

    async def gatekeeper(request: Request[Any, Any, Any]) -> Response[bytes] | None:
        """Log the call, then serve injected faults before the handler runs."""
        path = request.url.path
        sandbox.log.record(request.method, path, dict(request.query_params), dict(request.headers))
        injected = sandbox.faults.take(path)
        return None if injected is None else fault_response(injected.status, injected.retry_after, sandbox.clock.now())

    async def provide_access(request: Request[Any, Any, Any]) -> AccessRecord:
        return authenticate(sandbox, request.headers.get("authorization"))

    def auth_error(_: Request[Any, Any, Any], exc: QboAuthError) -> Response[bytes]:
        headers = {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'} if exc.status == 401 else {}
        body = json_bytes(auth_fault(exc.status, exc.detail, sandbox.clock.now()))
        return Response(content=body, status_code=exc.status, media_type=MediaType.JSON, headers=headers)

    def qbo_fault(_: Request[Any, Any, Any], exc: QboFault) -> Response[bytes]:
        return _api(fault_body(exc, sandbox.clock.now()), 400)

    def query_error(_: Request[Any, Any, Any], exc: QueryError) -> Response[bytes]:
        return _api(fault(exc.code, exc.message, exc.detail, now=sandbox.clock.now()), 400)

    def not_found_error(_: Request[Any, Any, Any], __: Exception) -> Response[bytes]:
        return _api(fault("404", "Not Found", "The requested resource was not found", now=sandbox.clock.now()), 404)

    def method_error(_: Request[Any, Any, Any], __: Exception) -> Response[bytes]:
        return _api(fault("405", "Method Not Allowed", "Unsupported method", now=sandbox.clock.now()), 405)

    handlers: ExceptionHandlersMap = {
        QboAuthError: auth_error,
        QboFault: qbo_fault,
        QueryError: query_error,
        NotFoundException: not_found_error,
        MethodNotAllowedException: method_error,
    }
    return Litestar(
        route_handlers=[
            authorize_page,
            authorize_submit,
            token,
            revoke,
            query_get,
            query_post,
            cdc,
            read_invoice,
            invoice_pdf_endpoint,
            read_customer,
            read_payment,
            company_info,
            preferences,
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

_PAST = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Void": "voided",
    "Merge": "merged",
    "Emailed": "emailed",
}


def _utc_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def webhook_payload(realm_id: str, entities: Sequence[tuple[str, str, str, datetime]]) -> bytes:
    """Classic webhook body: entities are (name, id, operation, lastUpdated), e.g. ("Invoice", "42", "Update", t)."""
    changes = [
        {"name": name, "id": entity_id, "operation": operation, "lastUpdated": _utc_z(at)}
        for name, entity_id, operation, at in entities
    ]
    return json_bytes({"eventNotifications": [{"realmId": realm_id, "dataChangeEvent": {"entities": changes}}]})


def cloudevents_payload(realm_id: str, entities: Sequence[tuple[str, str, str, datetime]]) -> bytes:
    """The CloudEvents 1.0 form Intuit moved webhooks to: a JSON array of events."""
    events = [
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "intuit.quickbooks.sandbox",
            "type": f"qbo.{name.lower()}.{_PAST.get(operation, operation.lower())}.v1",
            "datacontenttype": "application/json",
            "time": _utc_z(at),
            "intuitentityid": entity_id,
            "intuitaccountid": realm_id,
            "data": {},
        }
        for name, entity_id, operation, at in entities
    ]
    return json_bytes(events)


def sign_webhook(body: bytes, verifier: str) -> str:
    """The `intuit-signature` header: base64 HMAC-SHA256 of the raw body with the verifier token."""
    return base64.b64encode(hmac.new(verifier.encode(), body, hashlib.sha256).digest()).decode()


def invoice_webhook(
    sandbox: QuickBooksSandbox,
    realm_id: str,
    invoice_ids: Sequence[str],
    *,
    operation: str = "Update",
    cloudevents: bool = False,
) -> tuple[bytes, str]:
    """Body and signature announcing invoice changes in one company (signed with the sandbox's verifier)."""
    realm = sandbox.realms[realm_id]
    now = sandbox.clock.now()
    entities = [
        ("Invoice", i, operation, realm.invoices[i].updated_at if i in realm.invoices else now) for i in invoice_ids
    ]
    body = cloudevents_payload(realm_id, entities) if cloudevents else webhook_payload(realm_id, entities)
    return body, sign_webhook(body, sandbox.webhook_verifier)
