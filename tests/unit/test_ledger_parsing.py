"""What the ledgers send becomes exact invoices: dates, Decimal amounts, minor units, statuses and webhooks."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from decimal import Decimal
from typing import Any

import httpx
import msgspec
import pytest

from core.errors import NotAuthenticated
from ledger.parsing import ParseError, parse_amount, parse_ledger_date, parse_ledger_datetime
from ledger.providers.base import decode_json
from ledger.providers.quickbooks import invoice_from_quickbooks
from ledger.providers.xero import _parse_page, invoice_from_xero
from ledger.sandbox import quickbooks as qbo_hooks
from ledger.sandbox import xero as xero_hooks
from ledger.sandbox.common import json_bytes
from ledger.sandbox.quickbooks_state import QuickBooksSandbox
from ledger.sandbox.quickbooks_wire import invoice_json as qbo_invoice_json
from ledger.sandbox.seed import SeedLine
from ledger.sandbox.xero_state import XeroSandbox
from ledger.sandbox.xero_wire import envelope
from ledger.sandbox.xero_wire import invoice_json as xero_invoice_json
from ledger.webhooks import InvoiceChanges, quickbooks_changes, verify_signature, xero_changes

UTC = dt.UTC
# 2025-11-25T00:00:00Z in milliseconds since the epoch.
NOV_25_MS = 1764028800000


def wire(payload: object) -> Any:
    """A payload as the app reads it off the wire: encoded to JSON bytes, decoded with exact numbers."""
    return decode_json(httpx.Response(200, content=json_bytes(payload)))


# ----- dates ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"/Date({NOV_25_MS}+0000)/", dt.datetime(2025, 11, 25, tzinfo=UTC)),
        (f"/Date({NOV_25_MS})/", dt.datetime(2025, 11, 25, tzinfo=UTC)),
        # The milliseconds are UTC; the offset only says how Xero displays the moment.
        (f"/Date({NOV_25_MS + 123}+1300)/", dt.datetime(2025, 11, 25, 0, 0, 0, 123000, tzinfo=UTC)),
        (f"/Date({NOV_25_MS}-0500)/", dt.datetime(2025, 11, 25, tzinfo=UTC)),
        ("/Date(-86400000+0000)/", dt.datetime(1969, 12, 31, tzinfo=UTC)),
        ("/Date(-1)/", dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("2026-11-25T10:15:30Z", dt.datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-25T10:15:30+00:00", dt.datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC)),
        # QuickBooks writes MetaData times in the company's zone.
        ("2015-06-23T13:48:28-07:00", dt.datetime(2015, 6, 23, 20, 48, 28, tzinfo=UTC)),
        # No zone means UTC (Xero's UpdatedDateUTC string form).
        ("2026-11-25T10:15:30", dt.datetime(2026, 11, 25, 10, 15, 30, tzinfo=UTC)),
        ("2026-11-25T10:15:30.123456", dt.datetime(2026, 11, 25, 10, 15, 30, 123456, tzinfo=UTC)),
        ("2026-11-25", dt.datetime(2026, 11, 25, tzinfo=UTC)),
    ],
)
def test_ledger_datetimes_are_aware_utc(value: str, expected: dt.datetime) -> None:
    parsed = parse_ledger_datetime(value)
    assert parsed == expected
    assert parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"/Date({NOV_25_MS}+0000)/", dt.date(2025, 11, 25)),
        (f"/Date({NOV_25_MS + 86_399_999}+0000)/", dt.date(2025, 11, 25)),
        ("/Date(-86400000+0000)/", dt.date(1969, 12, 31)),
        ("2026-11-25", dt.date(2026, 11, 25)),
        ("2026-11-25T00:00:00", dt.date(2026, 11, 25)),
        ("2024-02-29", dt.date(2024, 2, 29)),
    ],
)
def test_ledger_dates_are_calendar_days(value: str, expected: dt.date) -> None:
    assert parse_ledger_date(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        1764028800000,
        "not a date",
        "2026-13-01",
        "2026-02-30",
        "2025-02-29",
        "25/11/2026",
        "/Date(abc)/",
        "/Date(1764028800000+00)/",
        "Date(1764028800000)",
        "/Date()/",
    ],
)
def test_bad_dates_raise_parse_error(value: object) -> None:
    with pytest.raises(ParseError):
        parse_ledger_date(value)
    with pytest.raises(ParseError):
        parse_ledger_datetime(value)


# ----- amounts -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123.45", Decimal("123.45")),
        (Decimal("0.1"), Decimal("0.1")),
        (500, Decimal(500)),
        ("1.234", Decimal("1.234")),
        ("-20.00", Decimal("-20.00")),
        # 17 significant digits: a float would come back as ...566.
        ("12345678901234.567", Decimal("12345678901234.567")),
    ],
)
def test_amounts_are_exact_decimals(value: object, expected: Decimal) -> None:
    parsed = parse_amount(value)
    assert isinstance(parsed, Decimal)
    assert parsed == expected
    assert str(parsed) == str(expected)


def test_json_numbers_reach_the_parser_without_passing_through_float() -> None:
    body = wire({"Total": Decimal("12345678901234.567"), "Small": Decimal("0.1")})
    assert parse_amount(body["Total"]) == Decimal("12345678901234.567")
    assert parse_amount(body["Small"]) + parse_amount(body["Small"]) + parse_amount(body["Small"]) == Decimal("0.3")


@pytest.mark.parametrize("value", [None, True, False, "", "abc", "12,50", "NaN", "Infinity", "-inf", [1], {}])
def test_bad_amounts_raise_parse_error(value: object) -> None:
    with pytest.raises(ParseError):
        parse_amount(value)


# ----- Xero invoices -------------------------------------------------------------------------------------


def xero_raw(**overrides: Any) -> dict[str, Any]:
    """A Xero ACCREC invoice as the accounting API returns it (amounts as Decimals, as decoded)."""
    raw: dict[str, Any] = {
        "Type": "ACCREC",
        "InvoiceID": "243216c5-369e-4056-ac67-05388f86dc81",
        "InvoiceNumber": "INV-0042",
        "Reference": "PO 7781",
        "Contact": {
            "ContactID": "5b96e86b-418e-48e8-8949-308c14aec278",
            "Name": "Copperline Logistics LLC",
            "EmailAddress": "ap@copperline-logistics.example",
        },
        "Date": f"/Date({NOV_25_MS}+0000)/",
        "DueDate": f"/Date({NOV_25_MS + 30 * 86_400_000}+0000)/",
        "Status": "AUTHORISED",
        "CurrencyCode": "USD",
        "Total": Decimal("1000.00"),
        "AmountPaid": Decimal("250.50"),
        "AmountDue": Decimal("749.50"),
        "UpdatedDateUTC": "/Date(1764062345123+0000)/",
    }
    raw.update(overrides)
    return raw


def test_xero_invoice_is_normalised_to_minor_units_and_dates() -> None:
    invoice = invoice_from_xero(wire(xero_raw()))
    assert invoice.external_id == "243216c5-369e-4056-ac67-05388f86dc81"
    assert invoice.number == "INV-0042"
    assert invoice.reference == "PO 7781"
    assert invoice.contact_id == "5b96e86b-418e-48e8-8949-308c14aec278"
    assert invoice.contact_name == "Copperline Logistics LLC"
    assert invoice.contact_email == "ap@copperline-logistics.example"
    assert (invoice.currency, invoice.total_minor, invoice.amount_paid_minor, invoice.amount_due_minor) == (
        "USD",
        100000,
        25050,
        74950,
    )
    assert invoice.issue_date == dt.date(2025, 11, 25)
    assert invoice.due_date == dt.date(2025, 12, 25)
    assert invoice.status == "outstanding"
    assert invoice.ledger_status == "AUTHORISED"
    assert invoice.updated_at == dt.datetime(2025, 11, 25, 9, 19, 5, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("currency", "total", "paid", "due", "minor"),
    [
        ("USD", "123.45", "0.00", "123.45", (12345, 0, 12345)),
        ("JPY", "500", "0", "500", (500, 0, 500)),
        ("JPY", "150000.00", "50000.00", "100000.00", (150000, 50000, 100000)),
        ("KWD", "1.234", "0.000", "1.234", (1234, 0, 1234)),
        ("KWD", "10.500", "0.125", "10.375", (10500, 125, 10375)),
        ("usd", "1.005", "0", "1.005", (101, 0, 101)),
        ("KWD", "12345678901234.567", "0", "12345678901234.567", (12345678901234567, 0, 12345678901234567)),
    ],
)
def test_xero_amounts_use_the_currency_exponent(
    currency: str, total: str, paid: str, due: str, minor: tuple[int, int, int]
) -> None:
    raw = xero_raw(CurrencyCode=currency, Total=Decimal(total), AmountPaid=Decimal(paid), AmountDue=Decimal(due))
    invoice = invoice_from_xero(wire(raw))
    assert invoice.currency == currency.upper()
    assert (invoice.total_minor, invoice.amount_paid_minor, invoice.amount_due_minor) == minor


@pytest.mark.parametrize(
    ("ledger_status", "amount_due", "status"),
    [
        ("AUTHORISED", "749.50", "outstanding"),
        ("AUTHORISED", "0.00", "paid"),
        ("PAID", "0.00", "paid"),
        ("VOIDED", "0.00", "voided"),
        ("DELETED", "0.00", "deleted"),
        ("DRAFT", "1000.00", "draft"),
        ("SUBMITTED", "1000.00", "draft"),
    ],
)
def test_xero_status_means_what_it_says(ledger_status: str, amount_due: str, status: str) -> None:
    invoice = invoice_from_xero(wire(xero_raw(Status=ledger_status, AmountDue=Decimal(amount_due))))
    assert invoice.status == status
    assert invoice.ledger_status == ledger_status


def test_xero_optional_fields_fall_back_sensibly() -> None:
    raw = xero_raw(
        Contact={"ContactID": "c-1", "EmailAddress": "  "},
        InvoiceNumber="",
        Reference=None,
        UpdatedDateUTC=None,
    )
    del raw["DueDate"]
    invoice = invoice_from_xero(wire(raw))
    assert invoice.number == raw["InvoiceID"]
    assert invoice.reference == ""
    assert invoice.contact_name
    assert invoice.contact_email is None
    assert invoice.due_date == invoice.issue_date
    assert invoice.updated_at is None


def test_xero_version_changes_when_the_invoice_is_edited() -> None:
    before = invoice_from_xero(wire(xero_raw()))
    after = invoice_from_xero(wire(xero_raw(UpdatedDateUTC="/Date(1764062399000+0000)/")))
    assert before.version != after.version


def test_xero_page_takes_sales_invoices_and_skips_malformed_ones_with_a_reason() -> None:
    items = wire(
        [
            xero_raw(InvoiceID="good-1", InvoiceNumber="INV-1"),
            xero_raw(InvoiceID="bill-1", InvoiceNumber="BILL-1", Type="ACCPAY"),
            xero_raw(InvoiceID="no-contact", InvoiceNumber="INV-2", Contact=None),
            xero_raw(InvoiceID="no-contact-id", InvoiceNumber="INV-3", Contact={"Name": "Nobody"}),
            xero_raw(InvoiceID="bad-currency", InvoiceNumber="INV-4", CurrencyCode="ABC"),
            xero_raw(InvoiceID="no-currency", InvoiceNumber="INV-5", CurrencyCode=None),
            xero_raw(InvoiceID="negative", InvoiceNumber="INV-6", Total=Decimal("-10.00")),
            xero_raw(InvoiceID="bad-amount", InvoiceNumber="INV-7", AmountDue="lots"),
            xero_raw(InvoiceID="bad-date", InvoiceNumber="INV-8", Date="yesterday"),
            xero_raw(InvoiceID="good-2", InvoiceNumber="INV-9", CurrencyCode="JPY", Total=500, AmountDue=500),
        ]
    )
    batch = _parse_page(items)

    assert [invoice.external_id for invoice in batch.invoices] == ["good-1", "good-2"]
    assert batch.invoices[1].amount_due_minor == 500
    reasons = {skip.external_id: (skip.number, skip.reason) for skip in batch.skipped}
    # A bill is not a sales invoice: neither imported nor reported as a failure.
    assert "bill-1" not in reasons
    assert set(reasons) == {
        "no-contact",
        "no-contact-id",
        "bad-currency",
        "no-currency",
        "negative",
        "bad-amount",
        "bad-date",
    }
    assert reasons["no-contact"] == ("INV-2", "no contact")
    assert "ABC" in reasons["bad-currency"][1]
    assert "currency" in reasons["no-currency"][1]
    assert "negative" in reasons["negative"][1]
    assert all(reason for _, reason in reasons.values())


def test_xero_page_skips_an_invoice_without_an_id_instead_of_failing() -> None:
    raw = xero_raw()
    del raw["InvoiceID"]
    batch = _parse_page(wire([raw, xero_raw(InvoiceID="ok")]))
    assert [invoice.external_id for invoice in batch.invoices] == ["ok"]
    assert len(batch.skipped) == 1
    assert batch.skipped[0].number == "INV-0042"
    assert "InvoiceID" in batch.skipped[0].reason


def test_xero_sandbox_page_round_trips_exactly() -> None:
    """Bodies rendered by the Xero stand-in, in USD, JPY and KWD, part-paid, paid and voided."""
    sandbox = XeroSandbox()
    tenant = sandbox.add_tenant("Harbourview", base_currency="USD")
    usd = sandbox.add_contact(tenant.tenant_id, name="Brightwater Dental", email="accounts@brightwater.example")
    jpy = sandbox.add_contact(tenant.tenant_id, name="Sakura Design K.K.", currency="JPY")
    kwd = sandbox.add_contact(tenant.tenant_id, name="Gulf Traders", email="ap@gulf.example", currency="KWD")
    day, due = dt.date(2026, 11, 25), dt.date(2026, 12, 25)
    line = SeedLine("Advisory", Decimal(3), 41_150, Decimal(10))

    part_paid = sandbox.add_invoice(
        tenant.tenant_id, contact_id=usd.contact_id, number="INV-1", lines=[line], issue_date=day, due_date=due
    )
    sandbox.mark_paid(part_paid.invoice_id, amount_minor=10_001)
    yen = sandbox.add_invoice(
        tenant.tenant_id,
        contact_id=jpy.contact_id,
        number="INV-2",
        lines=[SeedLine("Design", Decimal(1), 150_000)],
        issue_date=day,
        due_date=due,
        reference="Brand refresh",
    )
    dinar = sandbox.add_invoice(
        tenant.tenant_id,
        contact_id=kwd.contact_id,
        number="INV-3",
        lines=[SeedLine("Freight", Decimal(2), 1_234)],
        issue_date=day,
        due_date=due,
    )
    paid = sandbox.add_invoice(
        tenant.tenant_id, contact_id=usd.contact_id, number="INV-4", lines=[line], issue_date=day, due_date=due
    )
    sandbox.mark_paid(paid.invoice_id)
    voided = sandbox.add_invoice(
        tenant.tenant_id, contact_id=usd.contact_id, number="INV-5", lines=[line], issue_date=day, due_date=due
    )
    sandbox.void_invoice(voided.invoice_id)
    bill = sandbox.add_invoice(
        tenant.tenant_id,
        contact_id=usd.contact_id,
        number="BILL-1",
        lines=[line],
        issue_date=day,
        due_date=due,
        invoice_type="ACCPAY",
    )
    sources = [part_paid, yen, dinar, paid, voided, bill]
    body = wire(
        envelope("Harbourview", sandbox.clock.now(), "Invoices", [xero_invoice_json(i, tenant) for i in sources])
    )

    batch = _parse_page(body["Invoices"])

    assert batch.skipped == []
    got = {invoice.number: invoice for invoice in batch.invoices}
    assert set(got) == {"INV-1", "INV-2", "INV-3", "INV-4", "INV-5"}
    for source in sources[:5]:
        invoice = got[source.number]
        assert invoice.external_id == source.invoice_id
        assert invoice.total_minor == source.total_minor
        assert invoice.amount_paid_minor == source.paid_minor
        assert invoice.amount_due_minor == source.due_minor
        assert invoice.issue_date == day
        assert invoice.due_date == due
        assert invoice.updated_at == source.updated_at
    assert got["INV-1"].total_minor == 135_795
    assert (got["INV-1"].amount_paid_minor, got["INV-1"].amount_due_minor) == (10_001, 125_794)
    assert (got["INV-2"].currency, got["INV-2"].total_minor, got["INV-2"].reference) == (
        "JPY",
        150_000,
        "Brand refresh",
    )
    assert (got["INV-3"].currency, got["INV-3"].total_minor) == ("KWD", 2_468)
    assert [got[n].status for n in ("INV-1", "INV-2", "INV-3", "INV-4", "INV-5")] == [
        "outstanding",
        "outstanding",
        "outstanding",
        "paid",
        "voided",
    ]
    assert got["INV-1"].contact_email == "accounts@brightwater.example"
    assert got["INV-2"].contact_email is None


# ----- QuickBooks invoices -------------------------------------------------------------------------------


def qbo_raw(**overrides: Any) -> dict[str, Any]:
    """A QuickBooks Online Invoice entity (amounts as decoded: ints or Decimals)."""
    raw: dict[str, Any] = {
        "Id": "130",
        "SyncToken": "2",
        "MetaData": {"CreateTime": "2026-11-20T09:00:00-08:00", "LastUpdatedTime": "2026-11-25T11:41:01-08:00"},
        "DocNumber": "1037",
        "TxnDate": "2026-11-20",
        "DueDate": "2026-12-20",
        "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
        "CustomerRef": {"value": "24", "name": "Hudson & Vale Architects"},
        "BillEmail": {"Address": "billing@hudsonvale.example"},
        "TotalAmt": Decimal("362.07"),
        "Balance": Decimal("362.07"),
    }
    raw.update(overrides)
    return raw


def test_quickbooks_open_invoice_is_outstanding() -> None:
    invoice = invoice_from_quickbooks(wire(qbo_raw()), "USD")
    assert (invoice.external_id, invoice.number) == ("130", "1037")
    assert (invoice.contact_id, invoice.contact_name) == ("24", "Hudson & Vale Architects")
    assert invoice.contact_email == "billing@hudsonvale.example"
    assert (invoice.currency, invoice.total_minor, invoice.amount_paid_minor, invoice.amount_due_minor) == (
        "USD",
        36207,
        0,
        36207,
    )
    assert (invoice.issue_date, invoice.due_date) == (dt.date(2026, 11, 20), dt.date(2026, 12, 20))
    assert invoice.status == "outstanding"
    assert invoice.updated_at == dt.datetime(2026, 11, 25, 19, 41, 1, tzinfo=UTC)


def test_quickbooks_part_paid_invoice_keeps_the_balance_due() -> None:
    invoice = invoice_from_quickbooks(wire(qbo_raw(TotalAmt=Decimal("362.07"), Balance=Decimal("62.07"))), "USD")
    assert (invoice.total_minor, invoice.amount_paid_minor, invoice.amount_due_minor) == (36207, 30000, 6207)
    assert invoice.status == "outstanding"


def test_quickbooks_zero_balance_is_paid() -> None:
    invoice = invoice_from_quickbooks(wire(qbo_raw(Balance=0)), "USD")
    assert invoice.status == "paid"
    assert (invoice.amount_paid_minor, invoice.amount_due_minor) == (36207, 0)


def test_quickbooks_voided_invoice_is_voided_not_paid() -> None:
    invoice = invoice_from_quickbooks(wire(qbo_raw(TotalAmt=0, Balance=0, PrivateNote="Voided")), "USD")
    assert invoice.status == "voided"
    assert invoice.amount_due_minor == 0


def test_quickbooks_without_bill_email_has_no_email() -> None:
    raw = qbo_raw()
    del raw["BillEmail"]
    assert invoice_from_quickbooks(wire(raw), "USD").contact_email is None
    padded = invoice_from_quickbooks(wire(qbo_raw(BillEmail={"Address": " ap@x.example "})), "USD")
    assert padded.contact_email == "ap@x.example"


@pytest.mark.parametrize(
    ("home", "total", "minor"),
    [("GBP", Decimal("99.50"), 9950), ("JPY", 15000, 15000), ("KWD", Decimal("1.234"), 1234)],
)
def test_quickbooks_without_currency_ref_uses_the_home_currency(home: str, total: object, minor: int) -> None:
    raw = qbo_raw(TotalAmt=total, Balance=total)
    del raw["CurrencyRef"]
    invoice = invoice_from_quickbooks(wire(raw), home)
    assert invoice.currency == home
    assert invoice.total_minor == minor
    assert invoice.amount_due_minor == minor


def test_quickbooks_currency_ref_wins_over_the_home_currency() -> None:
    raw = qbo_raw(CurrencyRef={"value": "JPY", "name": "Japanese Yen"}, TotalAmt=15000, Balance=15000)
    invoice = invoice_from_quickbooks(wire(raw), "USD")
    assert (invoice.currency, invoice.total_minor) == ("JPY", 15000)


@pytest.mark.parametrize(
    "overrides",
    [
        {"CustomerRef": None},
        {"CustomerRef": {"name": "No id"}},
        {"CurrencyRef": {"value": "ABC"}},
        {"TotalAmt": Decimal("-5.00"), "Balance": 0},
        {"TotalAmt": "many"},
        {"TxnDate": "20/11/2026"},
    ],
)
def test_quickbooks_malformed_invoices_raise_parse_error(overrides: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        invoice_from_quickbooks(wire(qbo_raw(**overrides)), "USD")


def test_quickbooks_sandbox_invoices_round_trip_exactly() -> None:
    """Bodies rendered by the QuickBooks stand-in: open, part-paid, paid, voided, JPY and KWD."""
    sandbox = QuickBooksSandbox()
    realm = sandbox.add_realm("Harbourview", home_currency="USD")
    usd = sandbox.add_customer(realm.realm_id, display_name="Hudson & Vale", email="billing@hudsonvale.example")
    jpy = sandbox.add_customer(realm.realm_id, display_name="Sakura K.K.", currency="JPY")
    kwd = sandbox.add_customer(realm.realm_id, display_name="Gulf Traders", currency="KWD")
    day, due = dt.date(2026, 11, 20), dt.date(2026, 12, 20)
    line = SeedLine("Advisory", Decimal("2.5"), 14_483, Decimal("8.25"))

    def add(customer_id: str, number: str, seed_line: SeedLine = line) -> Any:
        return sandbox.add_invoice(
            realm.realm_id, customer_id=customer_id, doc_number=number, lines=[seed_line], txn_date=day, due_date=due
        )

    open_one = add(usd.id, "1001")
    part = add(usd.id, "1002")
    sandbox.mark_paid(part.id, amount_minor=5_000)
    paid = add(usd.id, "1003")
    sandbox.mark_paid(paid.id)
    voided = add(usd.id, "1004")
    sandbox.void_invoice(voided.id)
    yen = add(jpy.id, "1005", SeedLine("Design", Decimal(1), 150_000))
    dinar = add(kwd.id, "1006", SeedLine("Freight", Decimal(3), 1_234))

    got = {}
    for source in (open_one, part, paid, voided, yen, dinar):
        invoice = invoice_from_quickbooks(wire(qbo_invoice_json(source, realm)), realm.home_currency)
        assert invoice.total_minor == source.total_minor
        assert invoice.amount_due_minor == source.balance_minor
        assert invoice.amount_paid_minor == source.total_minor - source.balance_minor
        assert (invoice.issue_date, invoice.due_date) == (day, due)
        assert invoice.updated_at == source.updated_at.replace(microsecond=0)
        got[source.doc_number] = invoice

    assert [got[n].status for n in ("1001", "1002", "1003", "1004")] == ["outstanding", "outstanding", "paid", "voided"]
    assert got["1001"].total_minor == 39_195
    assert got["1001"].contact_email == "billing@hudsonvale.example"
    assert got["1002"].amount_due_minor == 39_195 - 5_000
    assert (got["1005"].currency, got["1005"].total_minor) == ("JPY", 150_000)
    assert (got["1006"].currency, got["1006"].total_minor) == ("KWD", 3_702)
    assert got["1005"].contact_email is None
    # A new SyncToken is a new version (the PDF cache key).
    before = got["1001"].version
    sandbox.update_invoice(open_one.id, private_note="Chased by phone")
    assert invoice_from_quickbooks(wire(qbo_invoice_json(open_one, realm)), "USD").version != before


# ----- webhooks ------------------------------------------------------------------------------------------

KEY = "whk_3c1f1b0e9a"
WHEN = dt.datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def hmac_b64(key: str, body: bytes) -> str:
    """The signature computed independently of the code under test."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_a_correct_signature_is_accepted() -> None:
    body = xero_hooks.webhook_payload([xero_hooks.webhook_event("tenant-1", "inv-1", at=WHEN)])
    signatures = [hmac_b64(KEY, body), xero_hooks.sign_webhook(body, KEY), qbo_hooks.sign_webhook(body, KEY)]
    assert len(set(signatures)) == 1  # both sandboxes sign exactly as the providers document
    for signature in signatures:
        assert verify_signature(KEY, body, signature) is None  # accepted: no exception


@pytest.mark.parametrize(
    ("secret", "mutate_body", "signature_key", "present"),
    [
        (KEY, True, KEY, True),  # body changed after signing
        (KEY, False, KEY + "x", True),  # signed with another key
        (KEY, False, KEY, False),  # no signature header
        (None, False, "", True),  # not configured: refuse, even a signature made with an empty key
        ("", False, "", True),
    ],
)
def test_bad_or_unverifiable_signatures_are_refused(
    secret: str | None, mutate_body: bool, signature_key: str, present: bool
) -> None:
    body = xero_hooks.webhook_payload([xero_hooks.webhook_event("tenant-1", "inv-1", at=WHEN)])
    signature = hmac_b64(signature_key, body) if present else None
    sent = body.replace(b"inv-1", b"inv-2") if mutate_body else body
    with pytest.raises(NotAuthenticated):
        verify_signature(secret, sent, signature)


def test_empty_signature_is_refused() -> None:
    with pytest.raises(NotAuthenticated):
        verify_signature(KEY, b"{}", "")


def test_xero_intent_to_receive_is_verified_and_names_nothing() -> None:
    body, good = xero_hooks.intent_to_receive(KEY)
    verify_signature(KEY, body, good)
    assert xero_changes(body) == []
    body, bad = xero_hooks.intent_to_receive(KEY, valid=False)
    with pytest.raises(NotAuthenticated):
        verify_signature(KEY, body, bad)


def test_xero_changes_group_invoice_events_by_tenant() -> None:
    events = [
        xero_hooks.webhook_event("tenant-a", "inv-2", at=WHEN),
        xero_hooks.webhook_event("tenant-a", "inv-1", at=WHEN, event_type="CREATE"),
        xero_hooks.webhook_event("tenant-b", "inv-9", at=WHEN),
        xero_hooks.webhook_event("tenant-a", "inv-2", at=WHEN + dt.timedelta(seconds=5)),
        xero_hooks.webhook_event("tenant-a", "contact-1", at=WHEN, category="CONTACT"),
        xero_hooks.webhook_event("tenant-c", "contact-2", at=WHEN, category="CONTACT"),
    ]
    changes = xero_changes(xero_hooks.webhook_payload(events))
    assert sorted(changes, key=lambda c: c.tenant_id) == [
        InvoiceChanges(tenant_id="tenant-a", invoice_ids=["inv-1", "inv-2"]),
        InvoiceChanges(tenant_id="tenant-b", invoice_ids=["inv-9"]),
    ]


def test_xero_changes_from_the_sandbox_name_its_invoices() -> None:
    sandbox = XeroSandbox(webhook_key=KEY)
    tenant = sandbox.add_tenant("Harbourview")
    contact = sandbox.add_contact(tenant.tenant_id, name="Brightwater")
    invoice = sandbox.add_invoice(
        tenant.tenant_id,
        contact_id=contact.contact_id,
        number="INV-1",
        lines=[SeedLine("Audit", Decimal(1), 10_000)],
        issue_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
    )
    body, signature = xero_hooks.invoice_webhook(sandbox, [invoice.invoice_id])
    verify_signature(KEY, body, signature)
    assert xero_changes(body) == [InvoiceChanges(tenant_id=tenant.tenant_id, invoice_ids=[invoice.invoice_id])]


def test_empty_webhook_bodies_name_nothing() -> None:
    assert xero_changes(b"") == []
    assert quickbooks_changes(b"") == []
    assert quickbooks_changes(b"[]") == []


ENTITIES = [
    ("Invoice", "145", "Update", WHEN),
    ("Invoice", "130", "Create", WHEN),
    ("Customer", "24", "Update", WHEN),
    ("Payment", "301", "Create", WHEN),
    ("Invoice", "145", "Void", WHEN),
    ("Invoice", "150", "Delete", WHEN),
]


@pytest.mark.parametrize("builder", [qbo_hooks.webhook_payload, qbo_hooks.cloudevents_payload])
def test_quickbooks_changes_read_classic_and_cloudevents_payloads(builder: Any) -> None:
    body = builder("9130350000000001", ENTITIES)
    assert quickbooks_changes(body) == [InvoiceChanges(tenant_id="9130350000000001", invoice_ids=["130", "145", "150"])]


def test_quickbooks_classic_payload_with_several_realms() -> None:
    first = msgspec.json.decode(qbo_hooks.webhook_payload("111", [("Invoice", "1", "Update", WHEN)]))
    second = msgspec.json.decode(qbo_hooks.webhook_payload("222", [("Invoice", "2", "Update", WHEN)]))
    body = msgspec.json.encode({"eventNotifications": first["eventNotifications"] + second["eventNotifications"]})
    changes = sorted(quickbooks_changes(body), key=lambda c: c.tenant_id)
    assert changes == [InvoiceChanges("111", ["1"]), InvoiceChanges("222", ["2"])]


def test_quickbooks_cloudevents_group_by_account() -> None:
    body = msgspec.json.encode(
        msgspec.json.decode(qbo_hooks.cloudevents_payload("111", [("Invoice", "1", "Update", WHEN)]))
        + msgspec.json.decode(qbo_hooks.cloudevents_payload("222", [("Invoice", "7", "Create", WHEN)]))
        + msgspec.json.decode(qbo_hooks.cloudevents_payload("222", [("Customer", "8", "Update", WHEN)]))
    )
    changes = sorted(quickbooks_changes(body), key=lambda c: c.tenant_id)
    assert changes == [InvoiceChanges("111", ["1"]), InvoiceChanges("222", ["7"])]


@pytest.mark.parametrize("cloudevents", [False, True])
def test_quickbooks_sandbox_webhook_is_signed_and_names_its_invoices(cloudevents: bool) -> None:
    sandbox = QuickBooksSandbox(webhook_verifier=KEY)
    realm = sandbox.add_realm("Harbourview")
    customer = sandbox.add_customer(realm.realm_id, display_name="Hudson & Vale")
    invoice = sandbox.add_invoice(
        realm.realm_id,
        customer_id=customer.id,
        doc_number="1001",
        lines=[SeedLine("Audit", Decimal(1), 10_000)],
        txn_date=dt.date(2026, 11, 1),
        due_date=dt.date(2026, 12, 1),
    )
    body, signature = qbo_hooks.invoice_webhook(sandbox, realm.realm_id, [invoice.id], cloudevents=cloudevents)
    verify_signature(KEY, body, signature)
    with pytest.raises(NotAuthenticated):
        verify_signature(KEY + "-other", body, signature)
    assert quickbooks_changes(body) == [InvoiceChanges(tenant_id=realm.realm_id, invoice_ids=[invoice.id])]
