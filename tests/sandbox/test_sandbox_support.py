"""Sandbox building blocks: PDF writer, money helpers, seed data, query languages, faults and clock."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.sandbox.common import Clock, FaultInjector, plain_decimal, to_decimal, to_minor
from ledger.sandbox.pdf import render_pdf
from ledger.sandbox.quickbooks_query import DATETIME, ID, NUMBER, STRING, Column, QueryError, compile_conditions
from ledger.sandbox.quickbooks_query import parse_query as parse_qbo
from ledger.sandbox.seed import AUTHORISED, DRAFT, PAID, VOIDED, demo_seed, synthetic_seed
from ledger.sandbox.xero_filters import BOOL, GUID, Field, QueryParseError, parse_order, parse_where, sort_records
from ledger.sandbox.xero_filters import DATETIME as XDATETIME
from ledger.sandbox.xero_filters import NUMBER as XNUMBER
from ledger.sandbox.xero_filters import STRING as XSTRING

TODAY = date(2026, 11, 25)


# ----- PDF ------------------------------------------------------------------------------------------------


def test_pdf_cross_reference_table_points_at_every_object() -> None:
    pdf = render_pdf(["Invoice INV-1", "Bill to: Café (Holdings) \\ Ltd", "Total: USD 1,234.50"], title="INV-1")
    assert pdf.startswith(b"%PDF-1.4\n")
    assert pdf.endswith(b"%%EOF\n")
    xref_at = int(re.search(rb"startxref\n(\d+)\n%%EOF", pdf).group(1))  # type: ignore[union-attr]
    assert pdf[xref_at:].startswith(b"xref\n0 8\n")
    entries = re.findall(rb"(\d{10}) 00000 n \n", pdf[xref_at:])
    assert len(entries) == 7
    for number, offset in enumerate(entries, start=1):
        assert pdf[int(offset) :].startswith(b"%d 0 obj\n" % number)
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", pdf).group(1))  # type: ignore[union-attr]
    stream = pdf.split(b"stream\n", 1)[1].split(b"\nendstream", 1)[0]
    assert len(stream) == length
    assert b"(Bill to: Caf\xe9 \\(Holdings\\) \\\\ Ltd) Tj" in stream


def test_pdf_is_deterministic_and_content_dependent() -> None:
    assert render_pdf(["a", "b"]) == render_pdf(["a", "b"])
    assert render_pdf(["a", "b"]) != render_pdf(["a", "c"])
    assert b"(?? JPY) Tj" in render_pdf(["x", "日本 JPY"])


# ----- money ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "minor", "text"),
    [("USD", 12345, "123.45"), ("JPY", 500, "500"), ("KWD", 1234, "1.234"), ("GBP", 5, "0.05")],
)
def test_minor_units_round_trip(currency: str, minor: int, text: str) -> None:
    assert str(to_decimal(minor, currency)) == text
    assert to_minor(Decimal(text), currency) == minor


def test_amounts_finer_than_the_currency_are_refused() -> None:
    with pytest.raises(ValueError, match="more decimals"):
        to_minor(Decimal("10.001"), "USD")
    with pytest.raises(ValueError, match="more decimals"):
        to_minor(Decimal("500.5"), "JPY")
    assert to_minor(Decimal("500.00"), "JPY") == 500


def test_quickbooks_style_amounts_have_no_trailing_zeros_or_exponent() -> None:
    assert str(plain_decimal(10000, "USD")) == "100"
    assert str(plain_decimal(9950, "USD")) == "99.5"
    assert str(plain_decimal(100000, "JPY")) == "100000"


# ----- seed data ----------------------------------------------------------------------------------------------


def test_demo_seed_covers_the_cases_the_portal_shows() -> None:
    data = demo_seed(TODAY)
    currencies = {c.currency for c in data.clients}
    assert currencies == {"USD", "AUD", "GBP", "JPY"}
    assert any(c.email == "" for c in data.clients)
    open_invoices = [i for i in data.invoices if i.status == AUTHORISED]
    assert any(i.due_date < TODAY for i in open_invoices)
    assert any(TODAY <= i.due_date <= TODAY + timedelta(days=7) for i in open_invoices)
    assert any(0 < i.paid_minor < i.total_minor for i in open_invoices)
    assert [i.status for i in data.invoices].count(DRAFT) == 2
    assert [i.status for i in data.invoices].count(PAID) == 1
    assert [i.status for i in data.invoices].count(VOIDED) == 1
    paid = next(i for i in data.invoices if i.status == PAID)
    assert paid.paid_minor == paid.total_minor


def test_synthetic_seed_is_deterministic_and_varied() -> None:
    # Its speed is the import benchmark's business (benchmarks/import.py), not a timed test's.
    big = synthetic_seed(50_000, today=TODAY)
    assert len(big.invoices) == 50_000
    assert len({i.number for i in big.invoices}) == 50_000
    assert synthetic_seed(50, today=TODAY) == synthetic_seed(50, today=TODAY)
    assert synthetic_seed(50, today=TODAY, seed=1) != synthetic_seed(50, today=TODAY, seed=2)
    statuses = {i.status for i in big.invoices}
    assert statuses == {AUTHORISED, PAID}
    assert any(0 < i.paid_minor < i.total_minor for i in big.invoices)
    assert {i.currency for i in big.invoices} == {"USD", "AUD", "GBP", "JPY"}
    assert all(i.issue_date <= TODAY for i in big.invoices)


# ----- Xero where/order ------------------------------------------------------------------------------------


@dataclass
class Row:
    id: str
    kind: str
    number: str
    amount: Decimal
    when: date
    sent: bool
    note: str | None


ROWS = [
    Row("AAAAAAAA-0000-0000-0000-000000000001", "ACCREC", "INV-1", Decimal("10.50"), date(2026, 8, 26), True, None),
    Row("aaaaaaaa-0000-0000-0000-000000000002", "ACCREC", "INV-2", Decimal(300), date(2026, 8, 27), False, "x"),
    Row("aaaaaaaa-0000-0000-0000-000000000003", "ACCPAY", "BILL-3", Decimal(20), date(2026, 9, 1), True, "y"),
]
FIELDS: dict[str, Field[Row]] = {
    "id": Field(GUID, lambda r: r.id),
    "type": Field(XSTRING, lambda r: r.kind),
    "invoicenumber": Field(XSTRING, lambda r: r.number),
    "total": Field(XNUMBER, lambda r: r.amount),
    "date": Field(XDATETIME, lambda r: r.when),
    "senttocontact": Field(BOOL, lambda r: r.sent),
    "reference": Field(XSTRING, lambda r: r.note),
}


def numbers(where: str) -> list[str]:
    predicate = parse_where(where, FIELDS, "Invoice")
    return [r.number for r in ROWS if predicate(r)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ('Type=="ACCREC" AND Date>=DateTime(2026,08,27)', ["INV-2"]),
        ('Type == "ACCPAY" OR (Total > 100 && SentToContact == false)', ["INV-2", "BILL-3"]),
        ('InvoiceNumber.StartsWith("INV") AND NOT (Total < 20)', ["INV-2"]),
        ('ID == Guid("aaaaaaaa-0000-0000-0000-000000000001")', ["INV-1"]),
        ("Reference == null", ["INV-1"]),
        ('Reference != null AND Reference.ToUpper() == "Y"', ["BILL-3"]),
        ("Date < DateTime(2026,08,26,12,00,00)", ["INV-1"]),
    ],
)
def test_xero_where_expressions(where: str, expected: list[str]) -> None:
    assert numbers(where) == expected


@pytest.mark.parametrize(
    "where",
    ['Type=="ACCREC" AND', 'Total > "10"', "Colour == 1", "Date >= DateTime(2026,13,1)", "Type", "SentToContact > 1"],
)
def test_xero_where_errors(where: str) -> None:
    with pytest.raises(QueryParseError):
        parse_where(where, FIELDS, "Invoice")


def test_xero_order_by_several_keys() -> None:
    keys = parse_order("Type DESC, Total ASC", FIELDS, "Invoice")
    assert [r.number for r in sort_records(ROWS, keys)] == ["INV-1", "INV-2", "BILL-3"]
    with pytest.raises(QueryParseError):
        parse_order("Total SIDEWAYS", FIELDS, "Invoice")


# ----- QuickBooks query language ---------------------------------------------------------------------------


def test_qbo_query_parsing() -> None:
    query = parse_qbo(
        "SELECT Id, Balance FROM invoice WHERE Balance > '0' AND DocNumber LIKE '10%' "
        "ORDERBY TxnDate DESC STARTPOSITION 11 MAXRESULTS 5000"
    )
    assert query.entity == "invoice"
    assert query.columns == ("Id", "Balance")
    assert [(c.field, c.op, c.values) for c in query.conditions] == [
        ("Balance", ">", ("0",)),
        ("DocNumber", "LIKE", ("10%",)),
    ]
    assert query.order == (("TxnDate", True),)
    assert (query.start, query.max_results) == (11, 1000)
    assert parse_qbo("select count(*) from Invoice").count is True


def test_qbo_conditions_compare_by_kind() -> None:
    pacific = ZoneInfo("America/Los_Angeles")
    rows = [
        ("2", Decimal("0"), "1001", datetime(2026, 11, 1, tzinfo=UTC)),
        ("10", Decimal("5.5"), "2001", datetime(2026, 11, 20, tzinfo=UTC)),
    ]
    columns = {
        "id": Column(ID, lambda r: r[0]),
        "balance": Column(NUMBER, lambda r: r[1]),
        "docnumber": Column(STRING, lambda r: r[2]),
        "metadata.lastupdatedtime": Column(DATETIME, lambda r: r[3]),
    }

    def ids(where: str) -> list[str]:
        text = f"select * from Invoice where {where}"  # noqa: S608 - QBO query, not SQL
        keep = compile_conditions(parse_qbo(text).conditions, columns, pacific)
        return [r[0] for r in rows if keep(r)]

    assert ids("Id > '3'") == ["10"]  # numeric, not string, comparison
    assert ids("Balance > '0'") == ["10"]
    assert ids("Id in ('2', '10')") == ["2", "10"]
    assert ids("DocNumber like '20%'") == ["10"]
    assert ids("MetaData.LastUpdatedTime >= '2026-11-10T00:00:00-08:00'") == ["10"]
    with pytest.raises(QueryError) as parsed:
        ids("Balance > '0' OR Id = '2'")
    assert parsed.value.code == "4000"
    with pytest.raises(QueryError) as invalid:
        ids("Balance > 'lots'")
    assert invalid.value.code == "4001"


# ----- faults and clock ------------------------------------------------------------------------------------


def test_fault_queue_respects_prefixes_and_storms_are_reproducible() -> None:
    faults = FaultInjector(("/api/",))
    faults.fail_next(2, status=429, retry_after=4)
    assert faults.take("/connect/token") is None
    first = faults.take("/api/Invoices")
    assert first is not None
    assert (first.status, first.retry_after) == (429, 4)
    assert faults.take("/api/Invoices") is not None
    assert faults.take("/api/Invoices") is None

    def storm(seed: int) -> list[bool]:
        faults.start_storm(503, rate=0.3, seed=seed)
        hits = [faults.take("/api/x") is not None for _ in range(50)]
        faults.stop_storm()
        return hits

    assert storm(7) == storm(7)
    assert 0 < sum(storm(7)) < 50


def test_clock_can_be_frozen_and_advanced() -> None:
    start = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    clock = Clock(frozen_at=start)
    assert clock.now() == start
    clock.advance(90)
    clock.advance(timedelta(minutes=1))
    assert clock.now() == start + timedelta(seconds=150)
    assert clock.today() == date(2026, 11, 25)


# ----- command line ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["xero", "quickbooks"])
def test_command_line_builds_a_seeded_app_with_the_portal_app_registered(provider: str) -> None:
    from litestar import Litestar

    from ledger.sandbox.__main__ import build, parse_args

    options = parse_args(
        [
            provider,
            "--invoices",
            "25",
            "--client-id",
            "cli-id",
            "--client-secret",
            "cli-secret",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
        ]
    )
    app, summary = build(options)
    assert isinstance(app, Litestar)
    assert "client_id=cli-id" in summary
    assert "http://127.0.0.1:9000/cb" in summary
    expected = {"xero": 41, "quickbooks": 39}[provider]  # QuickBooks has no draft invoices, so 2 fewer
    assert f"{expected} invoices" in summary
