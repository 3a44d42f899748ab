"""QuickBooks Online API behaviour behind the handlers: queries, change data capture and payments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from ledger.sandbox.common import json_bytes, loads_json, parse_decimal, to_decimal, to_minor
from ledger.sandbox.quickbooks_query import (
    BOOL,
    DATE,
    DATETIME,
    ID,
    NUMBER,
    STRING,
    Column,
    QueryError,
    compile_conditions,
    parse_query,
    sort_rows,
)
from ledger.sandbox.quickbooks_state import (
    UNDEPOSITED_FUNDS,
    QboAccount,
    QboCustomer,
    QboFault,
    QboInvoice,
    QboPayment,
    QboRealm,
    QuickBooksSandbox,
)
from ledger.sandbox.quickbooks_wire import (
    COMPANY_TZ,
    account_json,
    customer_json,
    deleted_json,
    fault_body,
    invoice_json,
    payment_json,
    preferences_json,
    response_time,
)

_CDC_WINDOW = timedelta(days=30)
_CDC_LIMIT = 1000
REF_NUM_MAX = 21
Json = dict[str, Any]


# ----- queries and change data capture -----------------------------------------------------------------

_CDC_ENTITIES = {"invoice": "Invoice", "customer": "Customer", "payment": "Payment"}
_ENTITIES = {**_CDC_ENTITIES, "account": "Account", "preferences": "Preferences"}


def _meta_columns() -> dict[str, Column[Any]]:
    return {
        "metadata.createtime": Column(DATETIME, lambda r: r.created_at),
        "metadata.lastupdatedtime": Column(DATETIME, lambda r: r.updated_at),
    }


def invoice_columns(realm: QboRealm) -> dict[str, Column[QboInvoice]]:
    """Queryable Invoice properties."""
    return {
        "id": Column(ID, lambda i: i.id),
        "docnumber": Column(STRING, lambda i: i.doc_number),
        "txndate": Column(DATE, lambda i: i.txn_date),
        "duedate": Column(DATE, lambda i: i.due_date),
        "balance": Column(NUMBER, lambda i: to_decimal(i.balance_minor, i.currency)),
        "totalamt": Column(NUMBER, lambda i: to_decimal(i.total_minor, i.currency)),
        "customerref": Column(ID, lambda i: i.customer_id),
        "currencyref": Column(STRING, lambda i: i.currency),
        **_meta_columns(),
    }


def customer_columns(realm: QboRealm) -> dict[str, Column[QboCustomer]]:
    """Queryable Customer properties."""
    return {
        "id": Column(ID, lambda c: c.id),
        "displayname": Column(STRING, lambda c: c.display_name),
        "companyname": Column(STRING, lambda c: c.company_name),
        "givenname": Column(STRING, lambda c: c.given_name),
        "familyname": Column(STRING, lambda c: c.family_name),
        "primaryemailaddr": Column(STRING, lambda c: c.email),
        "active": Column(BOOL, lambda c: c.active),
        **_meta_columns(),
    }


def payment_columns(realm: QboRealm) -> dict[str, Column[QboPayment]]:
    """Queryable Payment properties."""
    return {
        "id": Column(ID, lambda p: p.id),
        "txndate": Column(DATE, lambda p: p.txn_date),
        "totalamt": Column(NUMBER, lambda p: to_decimal(p.total_minor, p.currency)),
        "customerref": Column(ID, lambda p: p.customer_id),
        "paymentrefnum": Column(STRING, lambda p: p.ref_num),
        **_meta_columns(),
    }


def account_columns() -> dict[str, Column[QboAccount]]:
    """Queryable Account properties."""
    return {
        "id": Column(ID, lambda a: a.id),
        "name": Column(STRING, lambda a: a.name),
        "accounttype": Column(STRING, lambda a: a.account_type),
        "classification": Column(STRING, lambda a: a.classification),
        "active": Column(BOOL, lambda a: True),
    }


def _table(realm: QboRealm, entity: str) -> tuple[list[Any], dict[str, Column[Any]], Callable[[Any], Json]]:
    if entity == "Invoice":
        return list(realm.invoices.values()), invoice_columns(realm), lambda i: invoice_json(i, realm)
    if entity == "Customer":
        return list(realm.customers.values()), customer_columns(realm), lambda c: customer_json(c, realm)
    if entity == "Payment":
        return list(realm.payments.values()), payment_columns(realm), lambda p: payment_json(p, realm)
    if entity == "Account":
        return list(realm.accounts.values()), account_columns(), lambda a: account_json(a, realm)
    return [realm], {"id": Column(ID, lambda _: "1")}, lambda _: preferences_json(realm)


def _sparse(body: Json, columns: Sequence[str]) -> Json:
    wanted = {c.split(".")[0].lower() for c in columns} | {"id", "synctoken", "domain"}
    kept = {k: v for k, v in body.items() if k.lower() in wanted}
    kept["sparse"] = True
    return kept


def run_query(realm: QboRealm, text: str) -> Json:
    """Execute a QBO query and build the QueryResponse object."""
    query = parse_query(text)
    entity = _ENTITIES.get(query.entity.lower())
    if entity is None:
        raise QueryError("4000", "Error parsing query", f"QueryParserError: Invalid entity: {query.entity}")
    records, columns, render = _table(realm, entity)
    keep = compile_conditions(query.conditions, columns, COMPANY_TZ)
    # Like QuickBooks, customer queries only see active customers unless they ask about Active.
    active_only = entity == "Customer" and not any(c.field.lower() == "active" for c in query.conditions)
    rows = [r for r in records if keep(r) and (not active_only or r.active)]
    if query.count:
        return {"totalCount": len(rows)}
    rows = sort_rows(rows, query.order or (("Id", False),), columns)
    page = rows[query.start - 1 : query.start - 1 + query.max_results]
    if not page:
        return {}
    items = [render(r) if query.columns is None else _sparse(render(r), query.columns) for r in page]
    return {entity: items, "startPosition": query.start, "maxResults": len(items)}


def _changed_since(value: str | None, now: datetime) -> datetime:
    if not value:
        raise QboFault(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter changedSince is missing in the request",
        )
    try:
        since = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QboFault("2060", "Invalid date", f"changedSince '{value}' is not a valid date-time") from exc
    since = since if since.tzinfo else since.replace(tzinfo=COMPANY_TZ)
    if since < now - _CDC_WINDOW:
        raise QboFault("4000", "Error parsing query", "changedSince must be within the last 30 days")
    return since


def run_cdc(realm: QboRealm, entities: str | None, changed_since: str | None, now: datetime) -> Json:
    """Change data capture: entities changed (or deleted) since a moment within the last 30 days."""
    names = [n.strip() for n in (entities or "").split(",") if n.strip()]
    if not names:
        raise QboFault(
            "2020",
            "Required param missing, need to supply the required value for the API",
            "Required parameter entities is missing in the request",
        )
    since = _changed_since(changed_since, now)
    budget = _CDC_LIMIT
    responses = []
    for name in names:
        entity = _CDC_ENTITIES.get(name.lower())
        if entity is None:
            raise QboFault("2030", "Invalid ID", f"Invalid entity name in entities: {name}")
        items = _changes(realm, entity, since)[:budget]
        budget -= len(items)
        payload: Json = {entity: items, "startPosition": 1, "maxResults": len(items), "totalCount": len(items)}
        responses.append(payload if items else {})
    return {"CDCResponse": [{"QueryResponse": responses}], "time": response_time(now)}


def _changes(realm: QboRealm, entity: str, since: datetime) -> list[Json]:
    records, _, render = _table(realm, entity)
    changed = [(r.updated_at, render(r)) for r in records if r.updated_at >= since]
    changed += [
        (at, deleted_json(entity_id, at))
        for (kind, entity_id), at in realm.deleted.items()
        if kind == entity and at >= since
    ]
    return [body for _, body in sorted(changed, key=lambda pair: pair[0])]


# ----- payments ------------------------------------------------------------------------------------------


def _business_error(detail: str) -> QboFault:
    return QboFault(
        "6000",
        "A business validation error has occurred while processing your request",
        f"Business Validation Error: {detail}",
    )


def _missing(name: str) -> QboFault:
    return QboFault(
        "2020",
        "Required param missing, need to supply the required value for the API",
        f"Required parameter {name} is missing in the request",
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = loads_json(body)
    except ValueError as exc:
        raise QboFault(
            "2010", "Request has invalid or unsupported property", "Property Name:Unable to parse request body"
        ) from exc
    if not isinstance(payload, dict):
        raise QboFault("2010", "Request has invalid or unsupported property", "Request body must be an object")
    return payload


def _minor(value: object, currency: str, name: str) -> int:
    if value is None:
        raise _missing(name)
    try:
        return to_minor(parse_decimal(value), currency)
    except ValueError as exc:
        raise _business_error(f"{name} {value} is not a valid amount in {currency}") from exc


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _payment_lines(realm: QboRealm, customer: QboCustomer, raw_lines: object) -> list[tuple[str, int]]:
    lines: list[tuple[str, int]] = []
    for raw in raw_lines if isinstance(raw_lines, list) else []:
        line = _obj(raw)
        line_amount = _minor(line.get("Amount"), customer.currency, "Line.Amount")
        links = line.get("LinkedTxn")
        for link in map(_obj, links if isinstance(links, list) else []):
            if link.get("TxnType") != "Invoice":
                raise _business_error(f"Linked transaction type {link.get('TxnType')} is not supported here")
            invoice = realm.invoices.get(str(link.get("TxnId")))
            if invoice is None:
                raise QboFault("2500", "Invalid Reference Id", f"Invalid Reference Id : Invoice {link.get('TxnId')}")
            if invoice.customer_id != customer.id:
                raise _business_error(f"Invoice {invoice.id} belongs to a different customer")
            if line_amount > invoice.balance_minor:
                raise _business_error(f"The amount applied to invoice {invoice.doc_number} exceeds its open balance")
            lines.append((invoice.id, line_amount))
    return lines


def create_payment(sandbox: QuickBooksSandbox, realm: QboRealm, body: bytes) -> QboPayment:
    """POST /payment: validate the payment like QuickBooks and apply it to the linked invoices."""
    payload = _json_object(body)
    ref = _obj(payload.get("CustomerRef")).get("value")
    if not ref:
        raise _missing("CustomerRef")
    customer = realm.customers.get(str(ref))
    if customer is None:
        raise QboFault("2500", "Invalid Reference Id", f"Invalid Reference Id : Customer {ref}")
    currency = _obj(payload.get("CurrencyRef")).get("value", customer.currency)
    if currency != customer.currency:
        raise _business_error("The currency of the transaction must match the customer's currency")
    total = _minor(payload.get("TotalAmt"), customer.currency, "TotalAmt")
    lines = _payment_lines(realm, customer, payload.get("Line"))
    if sum(amount for _, amount in lines) > total:
        raise _business_error("The amount applied to invoices is greater than the payment amount")
    try:
        on = date.fromisoformat(payload["TxnDate"]) if payload.get("TxnDate") else sandbox.clock.today()
    except (TypeError, ValueError) as exc:
        raise QboFault("2060", "Invalid date", f"TxnDate '{payload.get('TxnDate')}' is not a valid date") from exc
    ref_num = str(payload.get("PaymentRefNum", ""))
    if len(ref_num) > REF_NUM_MAX:
        raise QboFault(
            "2050",
            "String length is either shorter or longer than supported by specification",
            f"Min:0 Max:{REF_NUM_MAX} supported. Supplied length:{len(ref_num)}",
            element="PaymentRefNum",
        )
    return sandbox.receive_payment(
        realm,
        customer_id=customer.id,
        total_minor=total,
        on=on,
        ref_num=ref_num,
        lines=lines,
        private_note=str(payload.get("PrivateNote", "")),
        deposit_account_id=_deposit_account(realm, payload.get("DepositToAccountRef")),
    )


def _deposit_account(realm: QboRealm, ref: object) -> str:
    """The account a payment is deposited to: Undeposited Funds unless a Bank/Other Current Asset is named."""
    account_id = str(ref.get("value", "")) if isinstance(ref, dict) else ""
    if not account_id:
        return UNDEPOSITED_FUNDS
    account = realm.accounts.get(account_id)
    if account is None:
        raise QboFault(
            "2500", "Invalid Reference Id", f"Invalid Reference Id : Accounts element id {account_id} not found"
        )
    if not account.takes_deposits:
        raise _business_error(f"Account {account.name} cannot receive deposits; use a bank or current asset account")
    return account.id


def payment_operation(sandbox: QuickBooksSandbox, realm: QboRealm, body: bytes, operation: str | None) -> Json:
    """Create a payment, or delete one with `?operation=delete`; returns the response body."""
    now = sandbox.clock.now()
    if operation is None:
        return {"Payment": payment_json(create_payment(sandbox, realm, body), realm), "time": response_time(now)}
    if operation != "delete":
        raise QboFault("2010", "Request has invalid or unsupported property", f"Unsupported operation: {operation}")
    payload = _json_object(body)
    if not payload.get("Id"):
        raise _missing("Id")
    payment = sandbox.delete_payment(realm, str(payload["Id"]), str(payload.get("SyncToken", "")))
    return {"Payment": {"domain": "QBO", "status": "Deleted", "Id": payment.id}, "time": response_time(now)}


def with_request_id(
    sandbox: QuickBooksSandbox, realm: QboRealm, request_id: str | None, produce: Callable[[], Json]
) -> tuple[int, bytes]:
    """Replay the stored (status, body) for a repeated `requestid`; otherwise run and remember the outcome."""
    key = (realm.realm_id, request_id or "")
    if request_id and key in sandbox.request_ids:
        return sandbox.request_ids[key]
    try:
        status, body = 200, json_bytes(produce())
    except QboFault as exc:
        status, body = 400, json_bytes(fault_body(exc, sandbox.clock.now()))
    if request_id:
        sandbox.request_ids[key] = (status, body)
    return status, body
