"""What every ledger client returns: invoices normalised to minor units, plus the client protocol."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Protocol

import httpx
import msgspec

_DECODER = msgspec.json.Decoder(float_hook=Decimal)
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def decode_json(response: httpx.Response) -> Any:
    """A ledger JSON body with every non-integer number as an exact Decimal."""
    return _DECODER.decode(response.content)


def encode_json(body: Any) -> bytes:
    """A ledger request body; Decimals go out as JSON numbers, as the ledgers expect."""
    return _ENCODER.encode(body)


class LedgerInvoice(msgspec.Struct, frozen=True, kw_only=True):
    """One sales invoice as a ledger reports it, amounts in minor units."""

    external_id: str
    number: str
    reference: str
    contact_id: str
    contact_name: str
    contact_email: str | None
    currency: str
    total_minor: int
    amount_paid_minor: int
    amount_due_minor: int
    issue_date: dt.date
    due_date: dt.date
    ledger_status: str
    status: str
    """outstanding, paid, voided, deleted or draft: what the ledger's status means for us."""
    version: str
    """Changes whenever the ledger changes the invoice (cache key of the PDF)."""
    updated_at: dt.datetime | None


class SkippedInvoice(msgspec.Struct, frozen=True):
    """An invoice the import could not take, and why (shown in the connection's import report)."""

    external_id: str
    number: str
    reason: str


class ChangeBatch(msgspec.Struct, frozen=True):
    """One page of changes: the invoices that parsed and those skipped."""

    invoices: list[LedgerInvoice]
    skipped: list[SkippedInvoice]


class LedgerPayment(msgspec.Struct, frozen=True, kw_only=True):
    """A payment to record against one invoice."""

    invoice_external_id: str
    amount_minor: int
    currency: str
    paid_on: dt.date
    reference: str
    idempotency_key: str
    account_code: str | None = None
    customer_external_id: str | None = None


class LedgerClient(Protocol):
    """The operations the product needs from a ledger."""

    async def changed_invoices(
        self, since: dt.datetime | None, first_import_from: dt.date
    ) -> AsyncIterator[ChangeBatch]:
        """Pages of invoices changed since `since` (or, on the first import, dated from `first_import_from`)."""
        ...

    async def invoices_by_id(self, external_ids: list[str]) -> ChangeBatch:
        """The current state of specific invoices (webhooks, pre-charge checks)."""
        ...

    async def invoice_pdf(self, external_id: str) -> bytes:
        """The ledger's own PDF of the invoice, byte for byte."""
        ...

    async def record_payment(self, payment: LedgerPayment) -> str:
        """Record a payment; returns the ledger's payment id. Safe to repeat with the same key."""
        ...
