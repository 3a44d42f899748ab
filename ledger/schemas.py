"""API shapes of invoices and clients (contract §4)."""

from __future__ import annotations

import datetime as dt

import msgspec


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
