"""Reading invoices and clients for the API and pages, always within one workspace."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.columns.combination import And, Or, Where, WhereRaw
from piccolo.query.functions.aggregate import Count, Sum

from core.clock import as_utc, local_date, utcnow
from core.db import is_sqlite, uuid_in
from core.errors import Invalid, NotFound
from core.scope import WorkspaceScope, parse_id
from core.stripe_gateway import StripeGateway
from core.tables import Activity, Workspace
from ledger.schemas import (
    ActivityOut,
    ClientDetailOut,
    ClientRef,
    CurrencyTotal,
    InvoiceDetailOut,
    InvoiceList,
    InvoiceListQuery,
    InvoiceOut,
    LastRequestOut,
    PaymentMethodOut,
    ScheduledCollectionOut,
)
from ledger.tables import Client, Invoice
from portal.tables import PaymentRequestInvoice, ScheduledCollection

_ROW_COLUMNS = (
    Invoice.id,
    Invoice.source,
    Invoice.external_id,
    Invoice.number,
    Invoice.reference,
    Invoice.currency,
    Invoice.total_minor,
    Invoice.amount_paid_minor,
    Invoice.amount_due_minor,
    Invoice.issue_date,
    Invoice.due_date,
    Invoice.status,
    Invoice.ledger_status,
    Invoice.client.id,
    Invoice.client.name,
    Invoice.client.email,
    Invoice.client.has_saved_card,
)
SORTS: dict[str, tuple[Column, bool]] = {
    "due_date": (Invoice.due_date, True),
    "-due_date": (Invoice.due_date, False),
    "amount_due": (Invoice.amount_due_minor, True),
    "-amount_due": (Invoice.amount_due_minor, False),
    "number": (Invoice.number, True),
}
STATUSES = ("outstanding", "processing", "paid", "voided", "all")


async def client_detail(scope: WorkspaceScope, client_id: str, gateway: StripeGateway | None) -> ClientDetailOut:
    """A client of this workspace with the cards they keep with us (read from Stripe, the source of truth)."""
    client = await scope.get(Client, client_id, what="client")
    cards = (
        await gateway.list_payment_methods(client.stripe_customer_id) if gateway and client.stripe_customer_id else []
    )
    return ClientDetailOut(
        id=str(client.id),
        name=client.name,
        email=client.email,
        payment_methods=[
            PaymentMethodOut(
                id=card.id,
                type="card",
                brand=card.brand,
                last4=card.last4,
                exp_month=card.exp_month,
                exp_year=card.exp_year,
                is_default=card.is_default,
            )
            for card in cards
        ],
    )


async def invoice_detail(scope: WorkspaceScope, invoice_id: str) -> InvoiceDetailOut:
    """An invoice of this workspace with its activity, newest first."""
    rows = await scope.select(Invoice, *_ROW_COLUMNS).where(Invoice.id == parse_id(invoice_id, what="invoice"))
    if not rows:
        raise NotFound("No such invoice.")
    [invoice] = await _invoices_out(rows)
    return InvoiceDetailOut(**msgspec.structs.asdict(invoice), activity=await _activity(scope, invoice.id))


async def _activity(scope: WorkspaceScope, invoice_id: str) -> list[ActivityOut]:
    """The invoice's history, newest first: its stored rows and one "requested" row per staff send."""
    stored = await scope.select(Activity, Activity.at, Activity.kind, Activity.detail).where(
        Activity.invoice_id == invoice_id
    )
    items = [ActivityOut(at=as_utc(row["at"]), kind=row["kind"], detail=row["detail"]) for row in stored]
    # A staff send stores no activity rows; its request's address and time stand for them.
    requested = await PaymentRequestInvoice.select(
        PaymentRequestInvoice.request.created_at, PaymentRequestInvoice.request.requested_from
    ).where(
        (PaymentRequestInvoice.invoice == uuid.UUID(invoice_id))
        & (PaymentRequestInvoice.request.workspace == scope.workspace_id)
        & PaymentRequestInvoice.request.requested_from.is_not_null()
    )
    items += [
        ActivityOut(
            at=as_utc(row["request.created_at"]),
            kind="requested",
            detail=f"Payment requested from {row['request.requested_from']}",
        )
        for row in requested
    ]
    return sorted(items, key=lambda item: item.at, reverse=True)


async def list_invoices(scope: WorkspaceScope, query: InvoiceListQuery) -> InvoiceList:
    """One keyset page of the filtered invoices, the filter's total count and per-currency totals."""
    if query.sort not in SORTS:
        raise Invalid("Unknown sort.", fields={"sort": f"Use one of {', '.join(SORTS)}."})
    if query.status not in STATUSES:
        raise Invalid("Unknown status.", fields={"status": f"Use one of {', '.join(STATUSES)}."})
    filters = await _filters(scope, query)
    column, ascending = SORTS[query.sort]
    page_query = scope.select(Invoice, *_ROW_COLUMNS)
    for condition in filters:
        page_query = page_query.where(condition)
    if query.cursor:
        page_query = page_query.where(_after(column, ascending, query.cursor))
    rows = (
        await page_query.order_by(column, ascending=ascending)
        .order_by(Invoice.id, ascending=ascending)
        .limit(query.limit + 1)
    )
    has_more = len(rows) > query.limit
    rows = rows[: query.limit]
    totals_query = scope.select(Invoice, Invoice.currency, Sum(Invoice.amount_due_minor), Count())
    for condition in filters:
        totals_query = totals_query.where(condition)
    totals = await totals_query.group_by(Invoice.currency).order_by(Invoice.currency)
    return InvoiceList(
        items=await _invoices_out(rows),
        next_cursor=_cursor_for(rows[-1], column) if has_more and rows else None,
        total_count=sum(int(row["count"]) for row in totals),
        totals=[CurrencyTotal(currency=row["currency"], amount_due=int(row["sum"] or 0)) for row in totals],
    )


async def matching_invoice_ids(scope: WorkspaceScope, query: InvoiceListQuery, *, limit: int) -> list[uuid.UUID]:
    """Ids of every invoice the filters match, up to `limit` (for "select all N matching")."""
    id_query = scope.select(Invoice, Invoice.id)
    for condition in await _filters(scope, query):
        id_query = id_query.where(condition)
    rows = await id_query.order_by(Invoice.due_date).order_by(Invoice.id).limit(limit)
    return [row["id"] for row in rows]


async def _filters(scope: WorkspaceScope, query: InvoiceListQuery) -> list[Where | And | Or]:
    conditions: list[Any] = []
    if query.status != "all":
        conditions.append(Invoice.status == query.status)
    if query.source is not None:  # the staff page passes None for "any"; an empty API value is not a ledger
        if query.source not in ("xero", "quickbooks"):
            raise Invalid("Unknown source.", fields={"source": "Use xero or quickbooks."})
        conditions.append(Invoice.source == query.source)
    if query.client_id:
        conditions.append(Invoice.client == _client_id(query.client_id))
    if query.due_before:
        conditions.append(Invoice.due_date < query.due_before)
    if query.due_after:
        conditions.append(Invoice.due_date > query.due_after)
    if query.overdue:
        conditions.append(Invoice.due_date < await workspace_today(scope))
    if query.q and query.q.strip():
        conditions.append(await _text_search(scope, query.q.strip()))
    return conditions


SEARCH_IDS_LIMIT = 5_000
"""A search matching at most this many invoices is answered from their ids; a broader one filters as it goes."""


async def _text_search(scope: WorkspaceScope, text: str) -> Any:
    """Invoice number, reference or client name contains `text` (case-insensitive, `%` and `_` literal).

    The matching ids are found first, in one pass (trigram indexes on PostgreSQL), so the page and its
    totals then read only those invoices by key rather than filtering the workspace's whole list.
    """
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    # SQLite's LIKE is already case-insensitive for ASCII; PostgreSQL needs ILIKE.
    matches = ("LIKE" if is_sqlite(Invoice._meta.db) else "ILIKE") + r" {} ESCAPE '\'"
    # Two branches, so each can use its own index (trigrams on PostgreSQL; invoices by client). No user text
    # in the SQL: the pattern is a parameter.
    rows = await Invoice.raw(
        f"SELECT id FROM invoice WHERE workspace = {{}} AND (number {matches} OR reference {matches})"  # noqa: S608
        " UNION SELECT id FROM invoice WHERE workspace = {} AND client IN"
        f" (SELECT id FROM client WHERE workspace = {{}} AND name {matches}) LIMIT {SEARCH_IDS_LIMIT + 1}",
        scope.workspace_id,
        pattern,
        pattern,
        scope.workspace_id,
        scope.workspace_id,
        pattern,
    )
    if len(rows) <= SEARCH_IDS_LIMIT:
        return uuid_in(Invoice.id, [uuid.UUID(str(row["id"])) for row in rows])
    clients = await Client.raw(
        f"SELECT id FROM client WHERE workspace = {{}} AND name {matches}",  # noqa: S608 - no user text in the SQL
        scope.workspace_id,
        pattern,
    )
    condition: Any = WhereRaw(f'"invoice"."number" {matches}', pattern) | WhereRaw(
        f'"invoice"."reference" {matches}', pattern
    )
    if clients:
        condition = condition | Invoice.client.is_in([row["id"] for row in clients])
    return condition


def _client_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Invalid("Unknown client.", fields={"client_id": "Not a client id."}) from None


async def workspace_today(scope: WorkspaceScope) -> dt.date:
    """Today in the workspace's time zone: what "overdue" and "collect on" mean to the firm."""
    row = await Workspace.select(Workspace.timezone).where(Workspace.id == scope.workspace_id).first()
    return local_date(utcnow(), row["timezone"] if row else "UTC")


class _Cursor(msgspec.Struct, array_like=True):
    value: str | int
    id: str


def _cursor_for(row: dict[str, Any], column: Column) -> str:
    value = row[column._meta.name]
    key = value.isoformat() if isinstance(value, dt.date) else value
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(value=key, id=str(row["id"])))).decode().rstrip("=")


def _cursor_value(column: Column, value: str | int) -> Any:
    """The cursor's sort value, checked against the sort it claims to continue (a cursor from another sort fails)."""
    if column is Invoice.due_date:
        return dt.date.fromisoformat(str(value))
    if column is Invoice.amount_due_minor:
        if not isinstance(value, int):
            raise TypeError("amount cursor must be an integer")
        return value
    if not isinstance(value, str):
        raise TypeError("number cursor must be text")
    return value


def _after(column: Column, ascending: bool, cursor: str) -> Or:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
        last_id = uuid.UUID(decoded.id)
        value = _cursor_value(column, decoded.value)
    except (ValueError, TypeError, msgspec.DecodeError):
        raise Invalid(
            "The cursor is not valid.", fields={"cursor": "Use next_cursor from the previous page of the same query."}
        ) from None
    condition: Or
    if ascending:
        condition = (column > value) | ((column == value) & (Invoice.id > last_id))
    else:
        condition = (column < value) | ((column == value) & (Invoice.id < last_id))
    return condition


async def _invoices_out(rows: list[dict[str, Any]]) -> list[InvoiceOut]:
    """API shapes for invoice rows, with their schedules and last requests fetched in two queries."""
    ids = [row["id"] for row in rows]
    schedules = await _scheduled_collections(ids)
    requests = await _last_requests(ids)
    return [
        InvoiceOut(
            id=str(row["id"]),
            source=row["source"],
            external_id=row["external_id"],
            number=row["number"],
            reference=row["reference"],
            client=ClientRef(id=str(row["client.id"]), name=row["client.name"], email=row["client.email"]),
            currency=row["currency"],
            total=row["total_minor"],
            amount_paid=row["amount_paid_minor"],
            amount_due=row["amount_due_minor"],
            issue_date=row["issue_date"],
            due_date=row["due_date"],
            status=row["status"],
            ledger_status=row["ledger_status"],
            has_payment_method=bool(row["client.has_saved_card"]),
            scheduled_collection=schedules.get(row["id"]),
            last_request=requests.get(row["id"]),
        )
        for row in rows
    ]


async def _scheduled_collections(invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, ScheduledCollectionOut]:
    if not invoice_ids:
        return {}
    rows = await ScheduledCollection.objects().where(
        ScheduledCollection.invoice.is_in(invoice_ids) & ScheduledCollection.status.is_in(["scheduled", "processing"])
    )
    return {
        row.invoice: ScheduledCollectionOut(
            id=str(row.id), collect_on=row.collect_on, status=row.status, payment_method_id=row.payment_method_id
        )
        for row in rows
    }


async def _last_requests(invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, LastRequestOut]:
    if not invoice_ids:
        return {}
    rows = (
        await PaymentRequestInvoice.select(
            PaymentRequestInvoice.invoice,
            PaymentRequestInvoice.request.id,
            PaymentRequestInvoice.request.status,
            PaymentRequestInvoice.request.sent_at,
            PaymentRequestInvoice.request.opened_at,
        )
        .where(PaymentRequestInvoice.invoice.is_in(invoice_ids))
        .order_by(PaymentRequestInvoice.request.created_at, ascending=False)
    )
    latest: dict[uuid.UUID, LastRequestOut] = {}
    for row in rows:
        latest.setdefault(
            row["invoice"],
            LastRequestOut(
                id=str(row["request.id"]),
                status=row["request.status"],
                sent_at=as_utc(row["request.sent_at"]) if row["request.sent_at"] else None,
                opened_at=as_utc(row["request.opened_at"]) if row["request.opened_at"] else None,
            ),
        )
    return latest


async def mark_paid_manually(scope: WorkspaceScope, invoice_id: str, *, by: str) -> None:
    """Staff record a payment made outside the portal; the invoice leaves Outstanding."""
    invoice = await scope.get(Invoice, invoice_id, what="invoice")
    if invoice.status != "outstanding":
        raise Invalid("Only an outstanding invoice can be marked paid.", fields={"status": f"It is {invoice.status}."})
    await Invoice.update({Invoice.status: "paid", Invoice.updated_at: utcnow()}).where(Invoice.id == invoice.id)
    await Activity(
        workspace=scope.workspace_id, invoice_id=str(invoice.id), kind="marked_paid", detail=f"Marked paid by {by}"
    ).save()


async def undo_manual_payment(scope: WorkspaceScope, invoice_id: str, *, by: str) -> None:
    """Undo "mark paid": back to Outstanding (only for invoices marked paid by staff, not paid through us)."""
    invoice = await scope.get(Invoice, invoice_id, what="invoice")
    last = (
        await scope.select(Activity, Activity.kind)
        .where(Activity.invoice_id == str(invoice.id))
        .where(Activity.kind.is_in(["marked_paid", "marked_unpaid", "paid"]))
        .order_by(Activity.at, ascending=False)
        .first()
    )
    if invoice.status != "paid" or last is None or last["kind"] != "marked_paid":
        raise Invalid("Only a payment marked by staff can be undone.", fields={"status": f"It is {invoice.status}."})
    await Invoice.update({Invoice.status: "outstanding", Invoice.updated_at: utcnow()}).where(Invoice.id == invoice.id)
    await Activity(
        workspace=scope.workspace_id, invoice_id=str(invoice.id), kind="marked_unpaid", detail=f"Undone by {by}"
    ).save()
