"""API shapes of invoices and clients (contract §4)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from core.openapi import allowed_values, documented


class ClientRef(msgspec.Struct):
    """The client an invoice is addressed to."""

    id: str
    name: str
    email: str | None


class PaymentMethodOut(msgspec.Struct):
    """A saved card or bank account (no card data beyond brand and last four digits)."""

    id: str
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class ClientDetailOut(msgspec.Struct):
    """`GET /api/v1/clients/{id}`."""

    id: str
    name: str
    email: str | None
    payment_methods: list[PaymentMethodOut]


class ScheduledCollectionOut(msgspec.Struct):
    """A pending charge against a saved method."""

    id: str
    collect_on: dt.date
    status: str
    payment_method_id: str


class LastRequestOut(msgspec.Struct):
    """The most recent payment request that included the invoice."""

    id: str
    status: str
    sent_at: dt.datetime | None
    opened_at: dt.datetime | None


class InvoiceOut(msgspec.Struct):
    """One invoice; every amount is in the currency's minor unit."""

    id: str
    source: str
    external_id: str
    number: str
    reference: str
    client: ClientRef
    currency: str
    total: int
    amount_paid: int
    amount_due: int
    issue_date: dt.date
    due_date: dt.date
    status: str
    ledger_status: str
    has_payment_method: bool
    scheduled_collection: ScheduledCollectionOut | None
    last_request: LastRequestOut | None


class ActivityOut(msgspec.Struct):
    """One line of an invoice's history."""

    at: dt.datetime
    kind: str
    detail: str


class InvoiceDetailOut(InvoiceOut):
    """`GET /api/v1/invoices/{id}`: the invoice plus its history."""

    activity: list[ActivityOut] = msgspec.field(default_factory=list)


class ConnectionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /api/v1/ledger-connections`."""

    provider: Annotated[str, documented(allowed_values("xero", "quickbooks"))]


class ConnectionStarted(msgspec.Struct):
    """A pending connection and where to send the person to consent."""

    id: str
    provider: str
    status: str
    authorize_url: str


class ConnectionOut(msgspec.Struct):
    """One ledger connection as staff see it."""

    id: str
    provider: str
    status: str
    tenant_id: str | None
    tenant_name: str | None
    last_synced_at: dt.datetime | None
    last_error: str | None
    payment_account_code: str | None
    import_report: dict[str, object] = msgspec.field(default_factory=dict)


class ConnectionList(msgspec.Struct):
    """`GET /api/v1/ledger-connections`."""

    items: list[ConnectionOut]


class ConnectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    """`PATCH /api/v1/ledger-connections/{id}`."""

    payment_account_code: str
    """1 to 32 printable characters once trimmed (the service answers 422 otherwise)."""


class JobQueued(msgspec.Struct):
    """202 answer for work handed to the queue."""

    job_id: str


class CurrencyTotal(msgspec.Struct):
    """A per-currency sum; amounts are never added across currencies."""

    currency: str
    amount_due: int


class InvoiceListQuery(msgspec.Struct, kw_only=True):
    """Filters, sort and page of `GET /api/v1/invoices`."""

    status: str = "outstanding"
    source: str | None = None
    client_id: str | None = None
    due_before: dt.date | None = None
    due_after: dt.date | None = None
    overdue: bool = False
    q: str | None = None
    sort: str = "due_date"
    limit: int = 50
    cursor: str | None = None


class InvoiceList(msgspec.Struct):
    """`GET /api/v1/invoices`."""

    items: list[InvoiceOut]
    next_cursor: str | None
    total_count: int
    totals: list[CurrencyTotal]
