"""QuickBooks Online JSON shapes: entities, query/CDC responses, Fault bodies and invoice PDFs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.sandbox.common import plain_decimal, to_decimal
from ledger.sandbox.pdf import render_pdf
from ledger.sandbox.quickbooks_state import QboAccount, QboCustomer, QboFault, QboInvoice, QboPayment, QboRealm

Json = dict[str, Any]

CURRENCY_NAMES = {
    "USD": "United States Dollar",
    "AUD": "Australian Dollar",
    "GBP": "British Pound Sterling",
    "JPY": "Japanese Yen",
    "CAD": "Canadian Dollar",
    "EUR": "Euro",
    "NZD": "New Zealand Dollar",
    "KWD": "Kuwaiti Dinar",
}
_EXCHANGE = {"USD": "1", "AUD": "0.6566", "GBP": "1.2639", "JPY": "0.006614", "CAD": "0.7294", "EUR": "1.0858"}


def _company_zone() -> tzinfo:
    try:
        return ZoneInfo("America/Los_Angeles")
    except ZoneInfoNotFoundError:  # no tz database on this machine: Pacific standard time is close enough
        return timezone(timedelta(hours=-8))


COMPANY_TZ = _company_zone()


def qbo_time(moment: datetime) -> str:
    """MetaData timestamps: company-local time with offset, whole seconds (`2026-11-25T11:41:01-08:00`)."""
    return moment.astimezone(COMPANY_TZ).replace(microsecond=0).isoformat()


def response_time(moment: datetime) -> str:
    """The `time` field of every response (`2026-11-25T11:41:01.014-08:00`)."""
    return moment.astimezone(COMPANY_TZ).isoformat(timespec="milliseconds")


def amount(minor: int, currency: str) -> Any:
    """Amounts as QBO writes them: plain JSON numbers without trailing zeros (150, 99.5)."""
    return plain_decimal(minor, currency)


def _currency(code: str) -> Json:
    return {"value": code, "name": CURRENCY_NAMES.get(code, code)}


def _meta(created: datetime, updated: datetime) -> Json:
    return {"CreateTime": qbo_time(created), "LastUpdatedTime": qbo_time(updated)}


def customer_json(customer: QboCustomer, realm: QboRealm) -> Json:
    """A Customer entity."""
    balance = sum(i.balance_minor for i in realm.invoices.values() if i.customer_id == customer.id)
    body: Json = {
        "Taxable": False,
        "Job": False,
        "BillWithParent": False,
        "CurrencyRef": _currency(customer.currency),
        "Balance": amount(balance, customer.currency),
        "BalanceWithJobs": amount(balance, customer.currency),
        "PreferredDeliveryMethod": "Email",
        "IsProject": False,
        "domain": "QBO",
        "sparse": False,
        "Id": customer.id,
        "SyncToken": str(customer.sync_token),
        "MetaData": _meta(customer.created_at, customer.updated_at),
        "GivenName": customer.given_name,
        "FamilyName": customer.family_name,
        "FullyQualifiedName": customer.display_name,
        "CompanyName": customer.company_name,
        "DisplayName": customer.display_name,
        "PrintOnCheckName": customer.company_name,
        "Active": customer.active,
    }
    if customer.phone:
        body["PrimaryPhone"] = {"FreeFormNumber": customer.phone}
    if customer.email:
        body["PrimaryEmailAddr"] = {"Address": customer.email}
    return body


def _line_json(invoice: QboInvoice) -> list[Json]:
    cur = invoice.currency
    rows = []
    for number, line in enumerate(invoice.lines, start=1):
        net = 0 if invoice.voided else line.net_minor
        unit = 0 if invoice.voided else line.unit_minor
        rows.append(
            {
                "Id": line.line_id,
                "LineNum": number,
                "Description": line.description,
                "Amount": amount(net, cur),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": "1", "name": line.item_name},
                    "UnitPrice": amount(unit, cur),
                    "Qty": line.quantity.normalize(),
                    "TaxCodeRef": {"value": "TAX" if line.tax_percent else "NON"},
                },
            }
        )
    rows.append(
        {"Amount": amount(invoice.subtotal_minor, cur), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
    )
    return rows


def invoice_json(invoice: QboInvoice, realm: QboRealm) -> Json:
    """An Invoice entity."""
    customer = realm.customers[invoice.customer_id]
    cur = invoice.currency
    body: Json = {
        "AllowIPNPayment": False,
        "AllowOnlinePayment": False,
        "AllowOnlineCreditCardPayment": False,
        "AllowOnlineACHPayment": False,
        "domain": "QBO",
        "sparse": False,
        "Id": invoice.id,
        "SyncToken": str(invoice.sync_token),
        "MetaData": _meta(invoice.created_at, invoice.updated_at),
        "CustomField": [],
        "DocNumber": invoice.doc_number,
        "TxnDate": invoice.txn_date.isoformat(),
        "CurrencyRef": _currency(cur),
        "LinkedTxn": [{"TxnId": p, "TxnType": "Payment"} for p in invoice.payment_ids],
        "Line": _line_json(invoice),
        "TxnTaxDetail": {"TotalTax": amount(invoice.tax_minor, cur)},
        "CustomerRef": {"value": customer.id, "name": customer.display_name},
    }
    if invoice.customer_memo:
        body["CustomerMemo"] = {"value": invoice.customer_memo}
    body.update(
        {
            "DueDate": invoice.due_date.isoformat(),
            "TotalAmt": amount(invoice.total_minor, cur),
            "ApplyTaxAfterDiscount": False,
            "PrintStatus": "NotSet",
            "EmailStatus": "EmailSent",
        }
    )
    if customer.email:
        body["BillEmail"] = {"Address": customer.email}
    body["Balance"] = amount(invoice.balance_minor, cur)
    if cur != realm.home_currency:
        body.update(_home_amounts(invoice, realm))
    if invoice.private_note:
        body["PrivateNote"] = invoice.private_note
    return body


def _home_amounts(invoice: QboInvoice, realm: QboRealm) -> Json:
    rate = plain_rate(invoice.currency, realm.home_currency)
    home = realm.home_currency
    return {
        "ExchangeRate": rate,
        "HomeTotalAmt": (to_decimal(invoice.total_minor, invoice.currency) * rate).quantize(to_decimal(1, home)),
        "HomeBalance": (to_decimal(invoice.balance_minor, invoice.currency) * rate).quantize(to_decimal(1, home)),
    }


def plain_rate(currency: str, home: str) -> Decimal:
    """Sandbox exchange rate: home-currency units per unit of `currency`."""
    return (Decimal(_EXCHANGE.get(currency, "1")) / Decimal(_EXCHANGE.get(home, "1"))).quantize(Decimal("0.000001"))


def payment_json(payment: QboPayment, realm: QboRealm) -> Json:
    """A Payment entity."""
    customer = realm.customers[payment.customer_id]
    cur = payment.currency
    body: Json = {
        "CustomerRef": {"value": customer.id, "name": customer.display_name},
        "DepositToAccountRef": {"value": payment.deposit_account_id},
        "TotalAmt": amount(payment.total_minor, cur),
        "UnappliedAmt": amount(payment.unapplied_minor, cur),
        "ProcessPayment": False,
        "domain": "QBO",
        "sparse": False,
        "Id": payment.id,
        "SyncToken": str(payment.sync_token),
        "MetaData": _meta(payment.created_at, payment.updated_at),
        "TxnDate": payment.txn_date.isoformat(),
        "CurrencyRef": _currency(cur),
    }
    if cur != realm.home_currency:
        body["ExchangeRate"] = plain_rate(cur, realm.home_currency)
    if payment.ref_num:
        body["PaymentRefNum"] = payment.ref_num
    if payment.private_note:
        body["PrivateNote"] = payment.private_note
    body["Line"] = [
        {"Amount": amount(value, cur), "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}
        for invoice_id, value in payment.lines
    ]
    return body


def account_json(account: QboAccount, realm: QboRealm) -> Json:
    """An Account entity."""
    return {
        "Name": account.name,
        "SubAccount": False,
        "FullyQualifiedName": account.name,
        "Active": True,
        "Classification": account.classification,
        "AccountType": account.account_type,
        "AccountSubType": account.sub_type,
        "CurrentBalance": 0,
        "CurrentBalanceWithSubAccounts": 0,
        "CurrencyRef": _currency(realm.home_currency),
        "domain": "QBO",
        "sparse": False,
        "Id": account.id,
        "SyncToken": "0",
        "MetaData": _meta(realm.created_at, realm.created_at),
    }


def preferences_json(realm: QboRealm) -> Json:
    """The company Preferences entity (the part clients read: currency settings)."""
    return {
        "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": realm.home_currency}},
        "SalesFormsPrefs": {"AllowDeposit": False, "AllowDiscount": True, "ETransactionEnabledStatus": "NotApplicable"},
        "domain": "QBO",
        "sparse": False,
        "Id": "1",
        "SyncToken": "0",
        "MetaData": _meta(realm.created_at, realm.created_at),
    }


def deleted_json(entity_id: str, at: datetime) -> Json:
    """How change data capture reports a deleted entity."""
    return {"domain": "QBO", "status": "Deleted", "Id": entity_id, "MetaData": {"LastUpdatedTime": qbo_time(at)}}


def fault(
    code: str, message: str, detail: str, *, kind: str = "ValidationFault", element: str = "", now: datetime
) -> Json:
    """The Fault body of 400/429/5xx responses."""
    return {
        "Fault": {"Error": [{"Message": message, "Detail": detail, "code": code, "element": element}], "type": kind},
        "time": response_time(now),
    }


def fault_body(exc: QboFault, now: datetime) -> Json:
    """The Fault body for a ValidationFault raised by the sandbox."""
    return fault(exc.code, exc.message, exc.detail, element=exc.element, now=now)


def auth_fault(status: int, detail: str, now: datetime) -> Json:
    """401/403 bodies: the gateway writes these with lower-case keys and an epoch-millisecond time."""
    reason = "AuthenticationFailed" if status == 401 else "ApplicationAuthorizationFailed"
    code = "3200" if status == 401 else "3100"
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": f"message={reason}; errorCode=00{code}; statusCode={status}",
                    "detail": detail,
                    "code": code,
                    "element": None,
                }
            ],
            "type": "AUTHENTICATION" if status == 401 else "AUTHORIZATION",
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(now.astimezone(UTC).timestamp() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def _fmt(minor: int, currency: str) -> str:
    return f"{currency} {to_decimal(minor, currency):,}"


def invoice_pdf(invoice: QboInvoice, realm: QboRealm) -> bytes:
    """The invoice copy QuickBooks would render; bytes change only when the invoice does."""
    customer = realm.customers[invoice.customer_id]
    cur = invoice.currency
    lines = [
        "INVOICE",
        realm.company_name,
        "",
        f"Invoice no.: {invoice.doc_number}",
        f"Date: {invoice.txn_date.isoformat()}",
        f"Due date: {invoice.due_date.isoformat()}",
        f"Bill to: {customer.display_name}",
        f"Email: {customer.email}",
        "",
    ]
    for line in invoice.lines:
        net = 0 if invoice.voided else line.net_minor
        lines.append(
            f"{line.description}  {line.quantity.normalize():f} x {_fmt(line.unit_minor, cur)} = {_fmt(net, cur)}"
        )
    lines += [
        "",
        f"Subtotal: {_fmt(invoice.subtotal_minor, cur)}",
        f"Tax: {_fmt(invoice.tax_minor, cur)}",
        f"Total: {_fmt(invoice.total_minor, cur)}",
        f"Balance due: {_fmt(invoice.balance_minor, cur)}",
    ]
    if invoice.voided:
        lines.append("VOIDED")
    return render_pdf(lines, title=f"Invoice {invoice.doc_number}")
