"""Xero accounting API behaviour behind the handlers: list queries (paging, where, order) and payments."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from litestar import Response

from ledger.sandbox.common import (
    SandboxHTTPError,
    loads_json,
    parse_decimal,
    to_decimal,
    to_minor,
)
from ledger.sandbox.oauth import (
    AccessRecord,
)
from ledger.sandbox.xero_filters import (
    BOOL,
    DATETIME,
    GUID,
    NUMBER,
    STRING,
    Field,
    parse_order,
    parse_where,
    sort_records,
)
from ledger.sandbox.xero_state import (
    CachedResponse,
    XeroContact,
    XeroInvoice,
    XeroPayment,
    XeroSandbox,
    XeroTenant,
    XeroValidationError,
)
from ledger.sandbox.xero_wire import (
    api_exception,
    ms_date,
    pagination,
    payment_json,
    problem,
)

R = TypeVar("R")
_MS_DATE = re.compile(r"/Date\((-?\d+)(?:[+-]\d{4})?\)/")


# ----- list queries: paging, filters, where/order ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The list parameters Xero accepts on Invoices, Contacts and Payments (names are case-insensitive)."""

    page: int | None
    page_size: int
    where: str | None
    order: str | None
    since: datetime | None
    ids: tuple[str, ...]
    statuses: tuple[str, ...]
    numbers: tuple[str, ...]
    contact_ids: tuple[str, ...]
    summary_only: bool
    include_archived: bool
    search: str | None

    @classmethod
    def parse(cls, query: Mapping[str, str], if_modified_since: str | None) -> ListQuery:
        """Read and validate list parameters; bad numbers raise a 400 like Xero's."""
        q = {k.lower(): v for k, v in query.items()}
        page = _int_param(q.get("page"), "page")
        size = _int_param(q.get("pagesize"), "pageSize")
        return cls(
            page=None if page is None else max(page, 1),
            page_size=min(max(size or 100, 1), 1000),
            where=q.get("where") or None,
            order=q.get("order") or None,
            since=parse_since(if_modified_since),
            ids=_csv(q.get("ids"), lower=True),
            statuses=tuple(s.upper() for s in _csv(q.get("statuses"))),
            numbers=_csv(q.get("invoicenumbers")),
            contact_ids=_csv(q.get("contactids"), lower=True),
            summary_only=q.get("summaryonly", "").lower() == "true",
            include_archived=q.get("includearchived", "").lower() == "true",
            search=q.get("searchterm") or None,
        )


def _int_param(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise SandboxHTTPError.json(
            400, api_exception(17, "ValidationException", f"The value '{value}' is not valid for {name}.")
        ) from exc


def _csv(value: str | None, *, lower: bool = False) -> tuple[str, ...]:
    items = tuple(v.strip().strip('"') for v in (value or "").split(",") if v.strip())
    return tuple(v.lower() for v in items) if lower else items


def parse_since(value: str | None) -> datetime | None:
    """Read If-Modified-Since as ISO 8601 (offset optional, UTC assumed) or an HTTP date; ignore garbage."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def select(
    records: Iterable[R],
    query: ListQuery,
    fields: Mapping[str, Field[R]],
    entity: str,
    keep: Callable[[R], bool],
) -> tuple[list[R], dict[str, int] | None]:
    """Filter, sort and page records the way Xero's list endpoints do."""
    rows = [r for r in records if keep(r)]
    if query.where:
        predicate = parse_where(query.where, fields, entity)
        rows = [r for r in rows if predicate(r)]
    if query.order:
        rows = sort_records(rows, parse_order(query.order, fields, entity))
    if query.page is None:
        return rows, None
    start = (query.page - 1) * query.page_size
    return rows[start : start + query.page_size], pagination(query.page, query.page_size, len(rows))


def invoice_fields(tenant: XeroTenant) -> dict[str, Field[XeroInvoice]]:
    """Invoice properties usable in `where` and `order`."""
    contact: Callable[[XeroInvoice], XeroContact] = lambda i: tenant.contacts[i.contact_id]  # noqa: E731
    return {
        "type": Field(STRING, lambda i: i.type),
        "status": Field(STRING, lambda i: i.status),
        "invoicenumber": Field(STRING, lambda i: i.number),
        "reference": Field(STRING, lambda i: i.reference),
        "invoiceid": Field(GUID, lambda i: i.invoice_id),
        "date": Field(DATETIME, lambda i: i.issue_date),
        "duedate": Field(DATETIME, lambda i: i.due_date),
        "updateddateutc": Field(DATETIME, lambda i: i.updated_at),
        "currencycode": Field(STRING, lambda i: i.currency),
        "total": Field(NUMBER, lambda i: _amount(i.total_minor, i.currency)),
        "subtotal": Field(NUMBER, lambda i: _amount(i.subtotal_minor, i.currency)),
        "totaltax": Field(NUMBER, lambda i: _amount(i.tax_minor, i.currency)),
        "amountdue": Field(NUMBER, lambda i: _amount(i.due_minor, i.currency)),
        "amountpaid": Field(NUMBER, lambda i: _amount(i.paid_minor, i.currency)),
        "senttocontact": Field(BOOL, lambda i: i.sent_to_contact),
        "fullypaidondate": Field(DATETIME, lambda i: i.fully_paid_on),
        "contact.contactid": Field(GUID, lambda i: i.contact_id),
        "contact.name": Field(STRING, lambda i: contact(i).name),
        "contact.emailaddress": Field(STRING, lambda i: contact(i).email),
    }


def contact_fields() -> dict[str, Field[XeroContact]]:
    """Contact properties usable in `where` and `order`."""
    return {
        "contactid": Field(GUID, lambda c: c.contact_id),
        "name": Field(STRING, lambda c: c.name),
        "firstname": Field(STRING, lambda c: c.first_name),
        "lastname": Field(STRING, lambda c: c.last_name),
        "emailaddress": Field(STRING, lambda c: c.email),
        "contactstatus": Field(STRING, lambda c: c.status),
        "iscustomer": Field(BOOL, lambda c: True),
        "issupplier": Field(BOOL, lambda c: False),
        "defaultcurrency": Field(STRING, lambda c: c.currency),
        "updateddateutc": Field(DATETIME, lambda c: c.updated_at),
    }


def payment_fields(tenant: XeroTenant) -> dict[str, Field[XeroPayment]]:
    """Payment properties usable in `where` and `order`."""
    invoice: Callable[[XeroPayment], XeroInvoice] = lambda p: tenant.invoices[p.invoice_id]  # noqa: E731
    return {
        "paymentid": Field(GUID, lambda p: p.payment_id),
        "status": Field(STRING, lambda p: p.status),
        "paymenttype": Field(STRING, lambda p: "ACCRECPAYMENT"),
        "date": Field(DATETIME, lambda p: p.paid_on),
        "amount": Field(NUMBER, lambda p: _amount(p.amount_minor, invoice(p).currency)),
        "reference": Field(STRING, lambda p: p.reference),
        "updateddateutc": Field(DATETIME, lambda p: p.updated_at),
        "invoice.invoiceid": Field(GUID, lambda p: p.invoice_id),
        "invoice.invoicenumber": Field(STRING, lambda p: invoice(p).number),
        "account.code": Field(STRING, lambda p: p.account_code),
        "isreconciled": Field(BOOL, lambda p: False),
    }


def _amount(minor: int, currency: str) -> object:
    return to_decimal(minor, currency)


def invoice_filter(query: ListQuery) -> Callable[[XeroInvoice], bool]:
    search = (query.search or "").lower()

    def keep(invoice: XeroInvoice) -> bool:
        return (
            (query.since is None or invoice.updated_at >= query.since)
            and (not query.ids or invoice.invoice_id in query.ids)
            and (not query.statuses or invoice.status in query.statuses)
            and (not query.numbers or invoice.number in query.numbers)
            and (not query.contact_ids or invoice.contact_id in query.contact_ids)
            and (not search or search in invoice.number.lower() or search in invoice.reference.lower())
        )

    return keep


def contact_filter(query: ListQuery) -> Callable[[XeroContact], bool]:
    search = (query.search or "").lower()

    def keep(contact: XeroContact) -> bool:
        return (
            (query.since is None or contact.updated_at >= query.since)
            and (not query.ids or contact.contact_id in query.ids)
            and (query.include_archived or contact.status != "ARCHIVED")
            and (not search or search in contact.name.lower() or search in contact.email.lower())
        )

    return keep


# ----- payments -------------------------------------------------------------------------------------


def _payment_items(body: bytes) -> list[dict[str, Any]]:
    try:
        payload = loads_json(body)
    except ValueError as exc:
        raise SandboxHTTPError.json(400, api_exception(14, "PostDataInvalidException", "Invalid Json data")) from exc
    items = payload.get("Payments", [payload]) if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise SandboxHTTPError.json(400, api_exception(14, "PostDataInvalidException", "Invalid Json data"))
    return items


def parse_xero_date(value: object) -> date | None:
    """Read a payment date: `2026-11-25`, `2026-11-25T00:00:00` or `/Date(1764028800000+0000)/`."""
    if not isinstance(value, str):
        return None
    match = _MS_DATE.fullmatch(value.strip())
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC).date()
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


@dataclass(slots=True)
class _PaymentPlan:
    item: dict[str, Any]
    invoice: XeroInvoice | None
    account_code: str | None
    amount_minor: int | None
    on: date | None
    problems: list[str]


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _plan_payment(tenant: XeroTenant, sandbox: XeroSandbox, item: dict[str, Any]) -> _PaymentPlan:
    ref = _object(item.get("Invoice"))
    number = str(ref.get("InvoiceNumber") or item.get("InvoiceNumber") or "")
    invoice_id = str(ref.get("InvoiceID", "")).lower() or tenant.numbers.get(number, "")
    invoice = tenant.invoices.get(invoice_id)
    account = _object(item.get("Account"))
    code = account.get("Code") or item.get("Code")
    if code is None and account.get("AccountID"):
        wanted = str(account["AccountID"]).lower()
        code = next((a.code for a in tenant.accounts.values() if a.account_id == wanted), "")
    problems: list[str] = []
    amount_minor = None
    try:
        amount = parse_decimal(item.get("Amount"))
        amount_minor = to_minor(amount, invoice.currency) if invoice else None
    except ValueError:
        problems.append("Payment amount must be a number with no more decimals than the currency allows")
    on = parse_xero_date(item.get("Date"))
    if on is None:
        problems.append("Payment date must be a valid date (YYYY-MM-DD)")
    problems += sandbox.payment_problems(tenant, invoice, code, amount_minor)
    return _PaymentPlan(item, invoice, code, amount_minor, on, problems)


def _echo(plan: _PaymentPlan) -> dict[str, object]:
    echo: dict[str, object] = {k: v for k, v in plan.item.items() if k in ("Invoice", "Account", "Amount", "Reference")}
    if plan.on is not None:
        echo["Date"] = ms_date(plan.on)
    echo.update({"StatusAttributeString": "ERROR", "HasValidationErrors": True})
    return echo


def create_payments(
    sandbox: XeroSandbox, tenant: XeroTenant, body: bytes, summarize_errors: bool
) -> list[dict[str, object]]:
    """PUT /Payments: validate every payment, then apply them (all or nothing unless summarizeErrors=false)."""
    plans = [_plan_payment(tenant, sandbox, item) for item in _payment_items(body)]
    failing = [p for p in plans if p.problems]
    if failing and summarize_errors:
        raise XeroValidationError([(_echo(p), p.problems) for p in failing])
    results: list[dict[str, object]] = []
    for plan in plans:
        if plan.problems:
            results.append({**_echo(plan), "ValidationErrors": [{"Message": m} for m in plan.problems]})
            continue
        assert plan.invoice and plan.account_code and plan.amount_minor and plan.on  # noqa: PT018 - narrowed above
        payment = sandbox.record_payment(
            tenant, plan.invoice, plan.account_code, plan.amount_minor, plan.on, str(plan.item.get("Reference", ""))
        )
        results.append({**payment_json(payment, tenant), "StatusAttributeString": "OK"})
    return results


def delete_payment(sandbox: XeroSandbox, tenant: XeroTenant, payment_id: str, body: bytes) -> XeroPayment:
    """POST /Payments/{id} with Status DELETED: reverse the payment."""
    items = _payment_items(body)
    if any(str(item.get("Status", "")).upper() != "DELETED" for item in items):
        raise XeroValidationError([({"PaymentID": payment_id}, ["Payments can only be updated to DELETED"])])
    return sandbox.delete_payment(tenant, payment_id.lower())


def idempotent(
    sandbox: XeroSandbox,
    access: AccessRecord,
    tenant: XeroTenant,
    key: str | None,
    produce: Callable[[], Response[bytes]],
) -> Response[bytes]:
    """Serve a remembered response for a repeated Idempotency-Key; remember new successful ones."""
    if key is not None and len(key) > 128:
        raise SandboxHTTPError.json(400, problem(400, "Bad Request", "Idempotency-Key must be 128 characters or fewer"))
    cache_key = (access.grant.client_id, tenant.tenant_id, key or "")
    if key and (cached := sandbox.idempotency.get(cache_key)) is not None:
        return Response(content=cached.body, status_code=cached.status, media_type=cached.media_type)
    response = produce()
    status = response.status_code or 200
    if key and 200 <= status < 300:
        sandbox.idempotency[cache_key] = CachedResponse(status, response.content, str(response.media_type))
    return response
