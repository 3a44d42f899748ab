"""QuickBooks Online Accounting API client: invoices by query and CDC, PDFs and payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx

from core.money import is_currency, to_decimal, to_minor
from ledger.http import LedgerAuthError, LedgerError, LedgerHttp
from ledger.parsing import ParseError, parse_amount, parse_ledger_date, parse_ledger_datetime
from ledger.providers.base import ChangeBatch, LedgerInvoice, LedgerPayment, SkippedInvoice, decode_json, encode_json
from ledger.providers.tokens import TokenSource

MINOR_VERSION = "75"
PAGE_SIZE = 1000
CDC_LOOKBACK = dt.timedelta(days=29)
"""QuickBooks' change data capture looks back at most 30 days; older cursors re-import by query."""


def invoice_from_quickbooks(raw: dict[str, Any], home_currency: str) -> LedgerInvoice:
    """Normalise one QuickBooks invoice; raises ParseError naming what is wrong."""
    customer = raw.get("CustomerRef") or {}
    if not customer.get("value"):
        raise ParseError("no customer")
    currency = str((raw.get("CurrencyRef") or {}).get("value") or home_currency).upper()
    if not is_currency(currency):
        raise ParseError(f"unknown currency {currency or '(none)'}")
    total = parse_amount(raw.get("TotalAmt"))
    if total < 0:
        raise ParseError("negative total")
    balance = parse_amount(raw.get("Balance", 0))
    if balance > 0:
        status = "outstanding"
    elif total == 0 and "void" in str(raw.get("PrivateNote") or "").lower():
        status = "voided"
    else:
        status = "paid"
    meta = raw.get("MetaData") or {}
    updated = meta.get("LastUpdatedTime")
    issue_date = parse_ledger_date(raw.get("TxnDate"))
    email = (raw.get("BillEmail") or {}).get("Address")
    return LedgerInvoice(
        external_id=str(raw["Id"]),
        number=str(raw.get("DocNumber") or raw["Id"]),
        reference=str(raw.get("PrivateNote") or "")[:255],
        contact_id=str(customer["value"]),
        contact_name=str(customer.get("name") or "Unnamed customer"),
        contact_email=str(email).strip() or None if email else None,
        currency=currency,
        total_minor=to_minor(total, currency),
        amount_paid_minor=to_minor(total - balance, currency),
        amount_due_minor=to_minor(balance, currency),
        issue_date=issue_date,
        due_date=parse_ledger_date(raw["DueDate"]) if raw.get("DueDate") else issue_date,
        ledger_status="Open" if balance > 0 else ("Voided" if status == "voided" else "Paid"),
        status=status,
        version=f"{raw.get('SyncToken', '0')}:{updated or ''}",
        updated_at=parse_ledger_datetime(updated) if updated else None,
    )


class QuickBooksClient:
    """One QuickBooks company (realm), reached through `api_base`."""

    def __init__(self, http: LedgerHttp, *, api_base: str, realm_id: str, tokens: TokenSource) -> None:
        self.http = http
        self.company = f"{api_base.rstrip('/')}/v3/company/{realm_id}"
        self.realm_id = realm_id
        self.tokens = tokens
        self.calls = 0
        """Requests this client sent (a sync's own count, whatever else shares the HTTP layer)."""
        self._home_currency: str | None = None

    async def _call(self, method: str, path: str, *, accept: str = "application/json", **kwargs: Any) -> httpx.Response:
        token = await self.tokens.access_token()
        params = {"minorversion": MINOR_VERSION, **kwargs.pop("params", {})}
        extra_headers = kwargs.pop("headers", {})
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {token}", "Accept": accept, **extra_headers}
            try:
                self.calls += 1
                return await self.http.request(
                    method, self.company + path, tenant=self.realm_id, headers=headers, params=params, **kwargs
                )
            except LedgerAuthError:
                if attempt == 2:
                    raise
                token = await self.tokens.after_unauthorized(token)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _query(self, statement: str) -> dict[str, Any]:
        response = await self._call("GET", "/query", params={"query": statement})
        result: dict[str, Any] = decode_json(response).get("QueryResponse") or {}
        return result

    async def home_currency(self) -> str:
        """The company's home currency, for invoices that carry no CurrencyRef."""
        if self._home_currency is None:
            prefs = (await self._query("select * from Preferences")).get("Preferences") or [{}]
            self._home_currency = str(
                (prefs[0].get("CurrencyPrefs") or {}).get("HomeCurrency", {}).get("value") or "USD"
            )
        return self._home_currency

    async def _parse(self, items: list[dict[str, Any]]) -> ChangeBatch:
        invoices: list[LedgerInvoice] = []
        skipped: list[SkippedInvoice] = []
        needs_currency = any(not item.get("CurrencyRef") for item in items if item.get("status") != "Deleted")
        home = await self.home_currency() if needs_currency else "USD"
        for raw in items:
            if raw.get("status") == "Deleted":
                invoices.append(_deleted(raw))
                continue
            try:
                invoices.append(invoice_from_quickbooks(raw, home))
            except (ParseError, KeyError) as exc:
                reason = str(exc) if isinstance(exc, ParseError) else f"missing {exc}"
                skipped.append(SkippedInvoice(str(raw.get("Id", "")), str(raw.get("DocNumber") or ""), reason))
        return ChangeBatch(invoices=invoices, skipped=skipped)

    async def changed_invoices(
        self, since: dt.datetime | None, first_import_from: dt.date
    ) -> AsyncIterator[ChangeBatch]:
        """Unpaid invoices by query (first import, or a cursor older than CDC keeps), else CDC changes."""
        if since is not None and since > dt.datetime.now(dt.UTC) - CDC_LOOKBACK:
            response = await self._call(
                "GET", "/cdc", params={"entities": "Invoice", "changedSince": since.isoformat(timespec="seconds")}
            )
            items: list[dict[str, Any]] = []
            for block in decode_json(response).get("CDCResponse") or []:
                for query in block.get("QueryResponse") or []:
                    items.extend(query.get("Invoice") or [])
            yield await self._parse(items)
            return
        start = 1
        while True:
            result = await self._query(
                # QuickBooks' query language, not SQL; only integers are interpolated.
                f"select * from Invoice where Balance > '0' STARTPOSITION {start} MAXRESULTS {PAGE_SIZE}"  # noqa: S608
            )
            page: list[dict[str, Any]] = result.get("Invoice") or []
            yield await self._parse(page)
            if len(page) < PAGE_SIZE:
                return
            start += PAGE_SIZE

    async def invoices_by_id(self, external_ids: list[str]) -> ChangeBatch:
        """Current state of the given invoices."""
        items: list[dict[str, Any]] = []
        for begin in range(0, len(external_ids), 100):
            chunk = external_ids[begin : begin + 100]
            quoted = ",".join(f"'{int(value)}'" for value in chunk if value.isdigit())
            if quoted:
                statement = f"select * from Invoice where Id in ({quoted})"  # noqa: S608 - digits only
                items.extend((await self._query(statement)).get("Invoice") or [])
        return await self._parse(items)

    async def invoice_pdf(self, external_id: str) -> bytes:
        """The invoice as QuickBooks renders it."""
        response = await self._call("GET", f"/invoice/{external_id}/pdf", accept="application/pdf")
        if not response.content.startswith(b"%PDF"):
            raise LedgerError(f"QuickBooks returned no PDF for invoice {external_id}")
        return response.content

    async def record_payment(self, payment: LedgerPayment) -> str:
        """POST /payment?requestid=… linked to the invoice; the request id makes retries safe."""
        if not payment.customer_external_id:
            raise LedgerError("a QuickBooks payment needs the customer id")
        body: dict[str, Any] = {
            "CustomerRef": {"value": payment.customer_external_id},
            "TotalAmt": to_decimal(payment.amount_minor, payment.currency),
            "TxnDate": payment.paid_on.isoformat(),
            "PaymentRefNum": payment.reference[:21],
            "PrivateNote": f"Collected by card: {payment.reference}",
            "Line": [
                {
                    "Amount": to_decimal(payment.amount_minor, payment.currency),
                    "LinkedTxn": [{"TxnId": payment.invoice_external_id, "TxnType": "Invoice"}],
                }
            ],
        }
        if payment.account_code:
            body["DepositToAccountRef"] = {"value": payment.account_code}
        response = await self._call(
            "POST",
            "/payment",
            params={"requestid": payment.idempotency_key[:50]},
            headers={"Content-Type": "application/json"},
            content=encode_json(body),
        )
        created = decode_json(response).get("Payment") or {}
        if not created.get("Id"):
            raise LedgerError("QuickBooks accepted the payment but returned no Id")
        return str(created["Id"])

    async def reverse_payment(self, ledger_payment_id: str) -> None:
        """Delete a payment (refund or dispute)."""
        current = decode_json(await self._call("GET", f"/payment/{ledger_payment_id}")).get("Payment") or {}
        await self._call(
            "POST",
            "/payment",
            params={"operation": "delete"},
            headers={"Content-Type": "application/json"},
            content=encode_json({"Id": ledger_payment_id, "SyncToken": current.get("SyncToken", "0")}),
        )


def _deleted(raw: dict[str, Any]) -> LedgerInvoice:
    """CDC reports a deleted invoice by id only; the sync marks ours deleted."""
    epoch = dt.date(1970, 1, 1)
    return LedgerInvoice(
        external_id=str(raw["Id"]),
        number=str(raw["Id"]),
        reference="",
        contact_id="",
        contact_name="",
        contact_email=None,
        currency="USD",
        total_minor=0,
        amount_paid_minor=0,
        amount_due_minor=0,
        issue_date=epoch,
        due_date=epoch,
        ledger_status="Deleted",
        status="deleted",
        version="deleted",
        updated_at=None,
    )
