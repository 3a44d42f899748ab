"""Xero's JSON shapes: MS-JSON dates, envelopes, invoices, contacts, payments and error bodies."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from ledger.sandbox.common import to_decimal
from ledger.sandbox.pdf import render_pdf
from ledger.sandbox.xero_state import (
    DELETED,
    XeroAccount,
    XeroConnection,
    XeroContact,
    XeroInvoice,
    XeroLine,
    XeroPayment,
    XeroTenant,
)

# Units of each currency per unit of the organisation's base currency (a fixed sandbox rate sheet).
_USD_RATES = {
    "USD": Decimal(1),
    "AUD": Decimal("1.5230"),
    "GBP": Decimal("0.7912"),
    "JPY": Decimal("151.20"),
    "NZD": Decimal("1.6610"),
    "EUR": Decimal("0.9210"),
    "CAD": Decimal("1.3710"),
}

Json = dict[str, Any]


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) if moment.tzinfo else int(moment.replace(tzinfo=UTC).timestamp() * 1000)


def ms_date(day: date) -> str:
    """A calendar date in Xero's MS-JSON form: `/Date(1764028800000+0000)/`."""
    return f"/Date({_epoch_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))}+0000)/"


def ms_datetime(moment: datetime) -> str:
    """A timestamp in Xero's MS-JSON form with offset: `/Date(1764062345123+0000)/`."""
    return f"/Date({_epoch_ms(moment)}+0000)/"


def ms_timestamp(moment: datetime) -> str:
    """The envelope's DateTimeUTC form, without offset: `/Date(1764062345123)/`."""
    return f"/Date({_epoch_ms(moment)})/"


def date_string(day: date) -> str:
    """Xero's DateString form: `2026-11-25T00:00:00`."""
    return f"{day.isoformat()}T00:00:00"


def dotnet_utc(moment: datetime) -> str:
    """Identity-service timestamps: UTC without offset, 7 fractional digits (`2019-12-07T18:46:19.5165400`)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond:06d}0"


def currency_rate(currency: str, base: str) -> Decimal:
    """Sandbox exchange rate: units of `currency` per unit of the base currency, 6 decimals like Xero."""
    rate = _USD_RATES.get(currency, Decimal(1)) / _USD_RATES.get(base, Decimal(1))
    return rate.quantize(Decimal("0.000001"))


def money(minor: int, currency: str) -> Decimal:
    """An amount as Xero writes it: a decimal with the currency's scale."""
    return to_decimal(minor, currency)


def envelope(provider_name: str, now: datetime, key: str, items: list[Json], pagination: Json | None = None) -> Json:
    """The standard accounting API response wrapper."""
    body: Json = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": provider_name,
        "DateTimeUTC": ms_timestamp(now),
    }
    if pagination is not None:
        body["pagination"] = pagination
    body[key] = items
    return body


def pagination(page: int, page_size: int, item_count: int) -> Json:
    """The pagination block for paged list calls."""
    return {"page": page, "pageSize": page_size, "pageCount": -(-item_count // page_size), "itemCount": item_count}


def contact_summary(contact: XeroContact) -> Json:
    """The contact as embedded in an invoice."""
    return {
        "ContactID": contact.contact_id,
        "Name": contact.name,
        "EmailAddress": contact.email,
        "Addresses": [],
        "Phones": [],
        "ContactGroups": [],
        "ContactPersons": [],
        "HasValidationErrors": False,
    }


def contact_json(contact: XeroContact) -> Json:
    """A full contact as GET /Contacts returns it."""
    phones = [{"PhoneType": "DEFAULT", "PhoneNumber": contact.phone, "PhoneAreaCode": "", "PhoneCountryCode": ""}]
    return {
        "ContactID": contact.contact_id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "FirstName": contact.first_name,
        "LastName": contact.last_name,
        "EmailAddress": contact.email,
        "BankAccountDetails": "",
        "Addresses": [{"AddressType": "STREET"}, {"AddressType": "POBOX"}],
        "Phones": phones if contact.phone else [],
        "UpdatedDateUTC": ms_datetime(contact.updated_at),
        "ContactGroups": [],
        "IsSupplier": False,
        "IsCustomer": True,
        "DefaultCurrency": contact.currency,
        "ContactPersons": [],
        "HasAttachments": False,
        "HasValidationErrors": False,
    }


def line_json(line: XeroLine, currency: str) -> Json:
    """An invoice line item."""
    return {
        "Description": line.description,
        "UnitAmount": money(line.unit_minor, currency),
        "TaxType": "OUTPUT" if line.tax_percent else "NONE",
        "TaxAmount": money(line.tax_minor, currency),
        "LineAmount": money(line.net_minor, currency),
        "AccountCode": line.account_code,
        "Tracking": [],
        "Quantity": line.quantity.quantize(Decimal("0.0001")),
        "LineItemID": line.line_item_id,
        "ValidationErrors": [],
    }


def _payment_ref(payment: XeroPayment, invoice: XeroInvoice, tenant: XeroTenant) -> Json:
    return {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.paid_on),
        "Amount": money(payment.amount_minor, invoice.currency),
        "Reference": payment.reference,
        "CurrencyRate": currency_rate(invoice.currency, tenant.base_currency),
        "HasAccount": False,
        "HasValidationErrors": False,
    }


def invoice_json(invoice: XeroInvoice, tenant: XeroTenant, *, with_lines: bool = True, summary: bool = False) -> Json:
    """An invoice in the accounting API's JSON form."""
    cur = invoice.currency
    body: Json = {
        "Type": invoice.type,
        "InvoiceID": invoice.invoice_id,
        "InvoiceNumber": invoice.number,
        "Reference": invoice.reference,
    }
    if not summary:
        live = [tenant.payments[p] for p in invoice.payment_ids if tenant.payments[p].status != DELETED]
        body.update(
            {
                "Payments": [_payment_ref(p, invoice, tenant) for p in live],
                "CreditNotes": [],
                "Prepayments": [],
                "Overpayments": [],
            }
        )
    body.update(
        {
            "AmountDue": money(invoice.due_minor, cur),
            "AmountPaid": money(invoice.paid_minor, cur),
            "AmountCredited": money(0, cur),
            "SentToContact": invoice.sent_to_contact,
            "CurrencyRate": currency_rate(cur, tenant.base_currency),
            "IsDiscounted": False,
            "HasAttachments": False,
            "HasErrors": False,
            "Contact": contact_summary(tenant.contacts[invoice.contact_id]),
            "DateString": date_string(invoice.issue_date),
            "Date": ms_date(invoice.issue_date),
            "DueDateString": date_string(invoice.due_date),
            "DueDate": ms_date(invoice.due_date),
            "Status": invoice.status,
            "LineAmountTypes": "Exclusive",
            "LineItems": [line_json(line, cur) for line in invoice.lines] if with_lines and not summary else [],
            "SubTotal": money(invoice.subtotal_minor, cur),
            "TotalTax": money(invoice.tax_minor, cur),
            "Total": money(invoice.total_minor, cur),
            "UpdatedDateUTC": ms_datetime(invoice.updated_at),
            "CurrencyCode": cur,
        }
    )
    if invoice.fully_paid_on is not None:
        body["FullyPaidOnDate"] = ms_date(invoice.fully_paid_on)
    return body


def payment_json(payment: XeroPayment, tenant: XeroTenant) -> Json:
    """A payment as GET/PUT /Payments returns it."""
    invoice = tenant.invoices[payment.invoice_id]
    account = tenant.accounts[payment.account_code]
    cur = invoice.currency
    return {
        "PaymentID": payment.payment_id,
        "Date": ms_date(payment.paid_on),
        "BankAmount": money(payment.amount_minor, cur),
        "Amount": money(payment.amount_minor, cur),
        "Reference": payment.reference,
        "CurrencyRate": currency_rate(cur, tenant.base_currency),
        "PaymentType": "ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
        "Status": payment.status,
        "UpdatedDateUTC": ms_datetime(payment.updated_at),
        "HasAccount": True,
        "IsReconciled": False,
        "Account": {"AccountID": account.account_id, "Code": account.code},
        "Invoice": {
            "Type": invoice.type,
            "InvoiceID": invoice.invoice_id,
            "InvoiceNumber": invoice.number,
            "Payments": [],
            "CreditNotes": [],
            "Prepayments": [],
            "Overpayments": [],
            "HasErrors": False,
            "IsDiscounted": False,
            "Contact": contact_summary(tenant.contacts[invoice.contact_id]),
            "LineItems": [],
            "CurrencyCode": cur,
        },
        "HasValidationErrors": False,
    }


def account_json(account: XeroAccount, tenant: XeroTenant) -> Json:
    """A chart-of-accounts entry."""
    body: Json = {
        "AccountID": account.account_id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.type,
        "TaxType": "NONE" if account.type == "BANK" else "OUTPUT",
        "Class": {"BANK": "ASSET", "CURRENT": "ASSET", "REVENUE": "REVENUE", "EQUITY": "EQUITY"}[account.type],
        "EnablePaymentsToAccount": account.enable_payments,
        "ShowInExpenseClaims": False,
        "ReportingCode": "",
        "HasAttachments": False,
        "UpdatedDateUTC": ms_datetime(tenant.created_at),
        "AddToWatchlist": False,
    }
    if account.type == "BANK":
        body.update(
            {
                "BankAccountNumber": account.bank_account_number,
                "BankAccountType": "BANK",
                "CurrencyCode": tenant.base_currency,
            }
        )
    return body


def organisation_json(tenant: XeroTenant) -> Json:
    """The organisation record (GET /Organisation)."""
    return {
        "OrganisationID": tenant.tenant_id,
        "APIKey": "",
        "Name": tenant.name,
        "LegalName": tenant.name,
        "PaysTax": True,
        "Version": tenant.country,
        "OrganisationType": "COMPANY",
        "BaseCurrency": tenant.base_currency,
        "CountryCode": tenant.country,
        "IsDemoCompany": False,
        "OrganisationStatus": "ACTIVE",
        "FinancialYearEndDay": 31,
        "FinancialYearEndMonth": 12,
        "SalesTaxBasis": "ACCRUALS",
        "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive",
        "CreatedDateUTC": ms_datetime(tenant.created_at),
        "OrganisationEntityType": "COMPANY",
        "ShortCode": tenant.short_code,
        "Edition": "BUSINESS",
        "Class": "PREMIUM",
        "Addresses": [],
        "Phones": [],
        "ExternalLinks": [],
        "PaymentTerms": {},
    }


def connection_json(connection: XeroConnection, tenant: XeroTenant) -> Json:
    """A GET /connections item."""
    return {
        "id": connection.connection_id,
        "authEventId": connection.auth_event_id,
        "tenantId": connection.tenant_id,
        "tenantType": "ORGANISATION",
        "tenantName": tenant.name,
        "createdDateUtc": dotnet_utc(connection.created_at),
        "updatedDateUtc": dotnet_utc(connection.updated_at),
    }


def problem(status: int, title: str, detail: str) -> Json:
    """The gateway's problem-details body used for 401/403/429/5xx."""
    return {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }


def validation_error(elements: list[tuple[dict[str, object], list[str]]]) -> Json:
    """Xero's 400 ValidationException with the offending elements echoed back."""
    return {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [{**echo, "ValidationErrors": [{"Message": m} for m in messages]} for echo, messages in elements],
    }


def api_exception(number: int, kind: str, message: str) -> Json:
    """Other 400 API exceptions, e.g. 16 QueryParseException or 14 PostDataInvalidException."""
    return {"ErrorNumber": number, "Type": kind, "Message": message}


def _fmt(minor: int, currency: str) -> str:
    return f"{currency} {money(minor, currency):,}"


def invoice_pdf(invoice: XeroInvoice, tenant: XeroTenant) -> bytes:
    """The invoice copy Xero would render; bytes change only when the invoice does."""
    contact = tenant.contacts[invoice.contact_id]
    cur = invoice.currency
    heading = "TAX INVOICE" if invoice.tax_minor else "INVOICE"
    lines = [
        heading,
        tenant.name,
        "",
        f"Invoice number: {invoice.number}",
        f"Reference: {invoice.reference}",
        f"Invoice date: {invoice.issue_date.isoformat()}",
        f"Due date: {invoice.due_date.isoformat()}",
        f"Bill to: {contact.name}",
        f"Email: {contact.email}",
        "",
    ]
    for line in invoice.lines:
        lines.append(
            f"{line.description}  {line.quantity.normalize():f} x {_fmt(line.unit_minor, cur)}"
            f" = {_fmt(line.net_minor, cur)}"
        )
    lines += [
        "",
        f"Subtotal: {_fmt(invoice.subtotal_minor, cur)}",
        f"Tax: {_fmt(invoice.tax_minor, cur)}",
        f"Total: {_fmt(invoice.total_minor, cur)}",
        f"Amount paid: {_fmt(invoice.paid_minor, cur)}",
        f"Amount due: {_fmt(invoice.due_minor, cur)}",
        f"Status: {invoice.status}",
    ]
    return render_pdf(lines, title=invoice.number)
