"""Shapes of `POST /api/v1/payment-requests` and friends (contract §4)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from ledger.schemas import CurrencyTotal

MAX_INVOICES = 5000
MAX_MESSAGE = 5000
MAX_SUBJECT = 200


class PaymentSettings(msgspec.Struct, forbid_unknown_fields=True):
    """How the client may pay."""

    card: bool = True
    bank_debit: bool = False
    save_payment_method: Literal["optional", "required", "off"] = "optional"


class PaymentRequestCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Preview or send payment requests for a selection of invoices."""

    invoice_ids: list[str]
    mode: Literal["preview", "send"]
    subject: str | None = None
    message: str | None = None
    settings: PaymentSettings | None = None
    skip_clients_without_email: bool = False
    """Consent to leave out clients who have no email address (they are listed either way)."""


class AttachmentOut(msgspec.Struct):
    """An attached invoice copy."""

    filename: str
    content_type: str
    size: int


class EmailPreview(msgspec.Struct):
    """One client's email exactly as it will be sent (the link carries a placeholder token)."""

    to: str
    subject: str
    text: str
    html: str
    invoice_ids: list[str]
    attachments: list[AttachmentOut]


class SkippedClient(msgspec.Struct):
    """A client left out, and why."""

    client_id: str
    name: str
    reason: str
    invoice_ids: list[str]


class PreviewOut(msgspec.Struct):
    """`mode: preview`: nothing is sent or stored."""

    count: int
    totals: list[CurrencyTotal]
    emails: list[EmailPreview]
    skipped_clients: list[SkippedClient] = msgspec.field(default_factory=list)


class RequestSummary(msgspec.Struct):
    """One queued request of a batch."""

    id: str
    client_id: str
    invoice_ids: list[str]
    status: str


class SendOut(msgspec.Struct):
    """`mode: send`: 202 with the queued requests."""

    batch_id: str
    count: int
    totals: list[CurrencyTotal]
    requests: list[RequestSummary]
    skipped_clients: list[SkippedClient] = msgspec.field(default_factory=list)


class PaymentRequestOut(msgspec.Struct):
    """`GET /api/v1/payment-requests/{id}`."""

    id: str
    client_id: str
    invoice_ids: list[str]
    status: str
    sent_at: dt.datetime | None
    link_expires_at: dt.datetime
    opened_at: dt.datetime | None
    note: str = ""
