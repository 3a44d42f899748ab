"""Xero Accounting API client: sales invoices, PDFs and payments (real wire format)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx

from core.money import is_currency, to_decimal, to_minor
from ledger.http import LedgerAuthError, LedgerError, LedgerHttp
from ledger.parsing import ParseError, parse_amount, parse_ledger_date, parse_ledger_datetime, xero_modified_since
from ledger.providers.base import ChangeBatch, LedgerInvoice, LedgerPayment, SkippedInvoice, decode_json, encode_json
from ledger.providers.tokens import TokenSource

PAGE_SIZE = 1000
ALL_STATUSES = "DRAFT,SUBMITTED,AUTHORISED,PAID,VOIDED,DELETED"
FIRST_IMPORT_STATUSES = "DRAFT,SUBMITTED,AUTHORISED"
_STATUS_MEANING = {
    "DRAFT": "draft",
    "SUBMITTED": "draft",
    "PAID": "paid",
    "VOIDED": "voided",
    "DELETED": "deleted",
}


def invoice_from_xero(raw: dict[str, Any]) -> LedgerInvoice:
    """Normalise one Xero invoice; raises ParseError naming what is wrong."""
    contact = raw.get("Contact") or {}
    if not contact.get("ContactID"):
        raise ParseError("no contact")
    currency = str(raw.get("CurrencyCode") or "").upper()
    if not is_currency(currency):
        raise ParseError(f"unknown currency {currency or '(none)'}")
    total = parse_amount(raw.get("Total"))
    if total < 0:
        raise ParseError("negative total")
    amount_due = parse_amount(raw.get("AmountDue", 0))
    amount_paid = parse_amount(raw.get("AmountPaid", 0))
    ledger_status = str(raw.get("Status") or "")
    status = _STATUS_MEANING.get(ledger_status, "outstanding" if amount_due > 0 else "paid")
    issue_date = parse_ledger_date(raw.get("Date"))
    updated = raw.get("UpdatedDateUTC")
    return LedgerInvoice(
        external_id=str(raw["InvoiceID"]),
        number=str(raw.get("InvoiceNumber") or raw["InvoiceID"]),
        reference=str(raw.get("Reference") or ""),
        contact_id=str(contact["ContactID"]),
        contact_name=str(contact.get("Name") or "Unnamed contact"),
        contact_email=(str(contact["EmailAddress"]).strip() or None) if contact.get("EmailAddress") else None,
        currency=currency,
        total_minor=to_minor(total, currency),
        amount_paid_minor=to_minor(amount_paid, currency),
        amount_due_minor=to_minor(amount_due, currency),
        issue_date=issue_date,
        due_date=parse_ledger_date(raw["DueDate"]) if raw.get("DueDate") else issue_date,
        ledger_status=ledger_status,
        status=status,
        version=str(updated or ""),
        updated_at=parse_ledger_datetime(updated) if updated else None,
    )


def _parse_page(items: list[dict[str, Any]]) -> ChangeBatch:
    invoices: list[LedgerInvoice] = []
    skipped: list[SkippedInvoice] = []
    for raw in items:
        if raw.get("Type", "ACCREC") != "ACCREC":
            continue
        try:
            invoices.append(invoice_from_xero(raw))
        except (ParseError, KeyError) as exc:
            reason = str(exc) if isinstance(exc, ParseError) else f"missing {exc}"
            skipped.append(SkippedInvoice(str(raw.get("InvoiceID", "")), str(raw.get("InvoiceNumber") or ""), reason))
    return ChangeBatch(invoices=invoices, skipped=skipped)


class XeroClient:
    """One Xero tenant (organisation), reached through `api_base`."""

    def __init__(self, http: LedgerHttp, *, api_base: str, tenant_id: str, tokens: TokenSource) -> None:
        self.http = http
        self.api = api_base.rstrip("/") + "/api.xro/2.0"
        self.tenant_id = tenant_id
        self.tokens = tokens
        self.calls = 0
        """Requests this client sent (a sync's own count, whatever else shares the HTTP layer)."""

    async def _call(self, method: str, path: str, *, accept: str = "application/json", **kwargs: Any) -> httpx.Response:
        token = await self.tokens.access_token()
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {token}",
                "xero-tenant-id": self.tenant_id,
                "Accept": accept,
                **extra_headers,
            }
            try:
                self.calls += 1
                return await self.http.request(
                    method, self.api + path, tenant=self.tenant_id, headers=headers, **kwargs
                )
            except LedgerAuthError:
                if attempt == 2:
                    raise
                token = await self.tokens.after_unauthorized(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def changed_invoices(
        self, since: dt.datetime | None, first_import_from: dt.date
    ) -> AsyncIterator[ChangeBatch]:
        """Sales invoices page by page: modified since `since`, or, first time, dated from `first_import_from`."""
        where = 'Type=="ACCREC"'
        headers: dict[str, str] = {}
        if since is None:
            day = first_import_from
            where += f" AND Date>=DateTime({day.year},{day.month:02d},{day.day:02d})"
            statuses = FIRST_IMPORT_STATUSES
        else:
            headers["If-Modified-Since"] = xero_modified_since(since)
            statuses = ALL_STATUSES
        page = 1
        while True:
            response = await self._call(
                "GET",
                "/Invoices",
                headers=headers,
                params={
                    "page": page,
                    "pageSize": PAGE_SIZE,
                    "where": where,
                    "Statuses": statuses,
                    "order": "UpdatedDateUTC ASC",
                },
            )
            body = decode_json(response)
            items: list[dict[str, Any]] = body.get("Invoices") or []
            yield _parse_page(items)
            page_count = (body.get("pagination") or {}).get("pageCount")
            if len(items) < PAGE_SIZE or (isinstance(page_count, int) and page >= page_count):
                return
            page += 1

    async def invoices_by_id(self, external_ids: list[str]) -> ChangeBatch:
        """Current state of the given invoices (50 ids a call, as Xero's URL limits suggest)."""
        invoices: list[LedgerInvoice] = []
        skipped: list[SkippedInvoice] = []
        for start in range(0, len(external_ids), 50):
            chunk = external_ids[start : start + 50]
            response = await self._call("GET", "/Invoices", params={"IDs": ",".join(chunk), "Statuses": ALL_STATUSES})
            batch = _parse_page(decode_json(response).get("Invoices") or [])
            invoices.extend(batch.invoices)
            skipped.extend(batch.skipped)
        return ChangeBatch(invoices=invoices, skipped=skipped)

    async def invoice_pdf(self, external_id: str) -> bytes:
        """The invoice as Xero renders it."""
        response = await self._call("GET", f"/Invoices/{external_id}", accept="application/pdf")
        if not response.content.startswith(b"%PDF"):
            raise LedgerError(f"Xero returned no PDF for invoice {external_id}")
        return response.content

    async def record_payment(self, payment: LedgerPayment) -> str:
        """PUT /Payments with an Idempotency-Key, so a retried write records one payment."""
        if not payment.account_code:
            raise LedgerError("no payment account code is set for this Xero connection")
        body = {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": payment.invoice_external_id},
                    "Account": {"Code": payment.account_code},
                    "Date": payment.paid_on.isoformat(),
                    "Amount": to_decimal(payment.amount_minor, payment.currency),
                    "Reference": payment.reference,
                }
            ]
        }
        response = await self._call(
            "PUT",
            "/Payments",
            headers={"Idempotency-Key": payment.idempotency_key, "Content-Type": "application/json"},
            content=encode_json(body),
        )
        payments = decode_json(response).get("Payments") or []
        if not payments or not payments[0].get("PaymentID"):
            raise LedgerError("Xero accepted the payment but returned no PaymentID")
        return str(payments[0]["PaymentID"])

    async def reverse_payment(self, ledger_payment_id: str) -> None:
        """Delete a payment (refund or dispute): Xero's `Status: DELETED`."""
        await self._call(
            "POST",
            f"/Payments/{ledger_payment_id}",
            headers={"Content-Type": "application/json"},
            content=encode_json({"Status": "DELETED"}),
        )
