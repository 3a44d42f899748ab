"""`GET /api/v1/invoices`: filters, sorts, keyset paging and per-currency totals, as an API user sees them."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

import ledger.services
from core.tables import Workspace
from jobs.maintenance import refresh_statistics
from ledger.tables import Client, Invoice, InvoicePdf
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import auth, json_of

SORTS = ("due_date", "-due_date", "amount_due", "-amount_due", "number")


async def add_invoice(
    workspace_id: str,
    client: Client,
    number: str,
    *,
    currency: str = "USD",
    amount_due: int = 10_000,
    amount_paid: int = 0,
    due_date: dt.date = dt.date(2026, 12, 1),
    status: str = "outstanding",
    source: str = "xero",
    reference: str = "",
) -> Invoice:
    """An imported invoice with the fields the list filters on."""
    invoice = Invoice(
        workspace=uuid.UUID(workspace_id),
        client=client.id,
        source=source,
        external_id=str(uuid.uuid4()),
        number=number,
        reference=reference,
        currency=currency,
        total_minor=amount_due + amount_paid,
        amount_paid_minor=amount_paid,
        amount_due_minor=amount_due,
        issue_date=due_date - dt.timedelta(days=30),
        due_date=due_date,
        status=status,
        ledger_status={"paid": "PAID", "voided": "VOIDED"}.get(status, "AUTHORISED"),
    )
    await invoice.save()
    return invoice


async def listing(http: httpx.AsyncClient, token: str, **params: Any) -> dict[str, Any]:
    """One page of the list; fails the test on anything but 200."""
    response = await http.get("/api/v1/invoices", params=params, headers=auth(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json_of(response.content)
    return body


def numbers(body: dict[str, Any]) -> list[str]:
    """Invoice numbers of a page, in the order given."""
    return [item["number"] for item in body["items"]]


async def walk(http: httpx.AsyncClient, token: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following next_cursor until it is null."""
    pages = [await listing(http, token, **params)]
    while pages[-1]["next_cursor"] is not None:
        assert len(pages) < 100, "paging does not terminate"
        pages.append(await listing(http, token, **params, cursor=pages[-1]["next_cursor"]))
    return pages


def assert_error(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The contract's error shape, optionally naming one field."""
    assert response.status_code == status, response.text
    body = json_of(response.content)
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error.get("fields", {}), dict)
    if field is not None:
        assert field in error["fields"], error
    return error


# ----- filters -------------------------------------------------------------------------------------------


async def test_default_lists_only_outstanding_invoices(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await add_invoice(firm.workspace_id, acme, "INV-OPEN", amount_due=1_000)
    await add_invoice(firm.workspace_id, acme, "INV-PAID", amount_due=0, amount_paid=2_000, status="paid")
    await add_invoice(firm.workspace_id, acme, "INV-VOID", amount_due=0, status="voided")
    await add_invoice(firm.workspace_id, acme, "INV-BUSY", amount_due=3_000, status="processing")

    body = await listing(client, firm.api_token)

    assert numbers(body) == ["INV-OPEN"]
    assert body["total_count"] == 1
    assert body["totals"] == [{"currency": "USD", "amount_due": 1_000}]
    assert body["next_cursor"] is None
    assert numbers(await listing(client, firm.api_token, status="outstanding")) == ["INV-OPEN"]


async def test_status_paid_voided_and_all(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await add_invoice(firm.workspace_id, acme, "INV-1", due_date=dt.date(2026, 1, 1))
    await add_invoice(firm.workspace_id, acme, "INV-2", amount_due=0, status="paid", due_date=dt.date(2026, 1, 2))
    await add_invoice(firm.workspace_id, acme, "INV-3", amount_due=0, status="voided", due_date=dt.date(2026, 1, 3))
    await add_invoice(firm.workspace_id, acme, "INV-4", status="processing", due_date=dt.date(2026, 1, 4))

    paid = await listing(client, firm.api_token, status="paid")
    assert numbers(paid) == ["INV-2"]
    assert paid["items"][0]["status"] == "paid"
    assert numbers(await listing(client, firm.api_token, status="voided")) == ["INV-3"]
    everything = await listing(client, firm.api_token, status="all")
    assert numbers(everything) == ["INV-1", "INV-2", "INV-3", "INV-4"]
    assert everything["total_count"] == 4
    assert [item["status"] for item in everything["items"]] == ["outstanding", "paid", "voided", "processing"]


async def test_source_filter(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await add_invoice(firm.workspace_id, acme, "X-1", source="xero")
    await add_invoice(firm.workspace_id, acme, "Q-1", source="quickbooks", due_date=dt.date(2026, 12, 2))
    await add_invoice(firm.workspace_id, acme, "Q-2", source="quickbooks", due_date=dt.date(2026, 12, 3))

    qbo = await listing(client, firm.api_token, source="quickbooks")
    assert numbers(qbo) == ["Q-1", "Q-2"]
    assert {item["source"] for item in qbo["items"]} == {"quickbooks"}
    assert qbo["total_count"] == 2
    assert qbo["totals"] == [{"currency": "USD", "amount_due": 20_000}]
    assert numbers(await listing(client, firm.api_token, source="xero")) == ["X-1"]


async def test_client_filter(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id, name="Acme Pty Ltd")
    globex = await make_client(firm.workspace_id, name="Globex Corporation", email=None)
    await add_invoice(firm.workspace_id, acme, "A-1")
    await add_invoice(firm.workspace_id, globex, "G-1", amount_due=700, due_date=dt.date(2026, 12, 5))
    await add_invoice(firm.workspace_id, globex, "G-2", amount_due=300, due_date=dt.date(2026, 12, 6))

    body = await listing(client, firm.api_token, client_id=str(globex.id))

    assert numbers(body) == ["G-1", "G-2"]
    assert {item["client"]["id"] for item in body["items"]} == {str(globex.id)}
    assert body["items"][0]["client"] == {"id": str(globex.id), "name": "Globex Corporation", "email": None}
    assert body["total_count"] == 2
    assert body["totals"] == [{"currency": "USD", "amount_due": 1_000}]


async def test_client_id_of_another_workspace_shows_nothing_of_theirs(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    mine, _ = await workspaces.create("Mine")
    theirs, _ = await workspaces.create("Theirs")
    my_client = await make_client(mine.workspace_id, name="My Client")
    their_client = await make_client(theirs.workspace_id, name="Their Secret Client")
    await add_invoice(mine.workspace_id, my_client, "MINE-1")
    await add_invoice(theirs.workspace_id, their_client, "THEIRS-1", amount_due=99_999)

    response = await client.get(
        "/api/v1/invoices", params={"client_id": str(their_client.id)}, headers=auth(mine.api_token)
    )

    assert response.status_code in (200, 404), response.text
    assert "THEIRS-1" not in response.text
    assert "Their Secret Client" not in response.text
    assert "99999" not in response.text
    if response.status_code == 200:
        body = json_of(response.content)
        assert body["items"] == []
        assert body["total_count"] == 0
        assert body["totals"] == []
    else:
        assert_error(response, 404)


async def test_other_workspaces_invoices_never_appear_or_count(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    mine, _ = await workspaces.create("Mine")
    theirs, _ = await workspaces.create("Theirs")
    my_client = await make_client(mine.workspace_id)
    their_client = await make_client(theirs.workspace_id, name="Acme Pty Ltd")
    await add_invoice(mine.workspace_id, my_client, "INV-0001", amount_due=100)
    await add_invoice(theirs.workspace_id, their_client, "INV-0001", amount_due=5_000)
    await add_invoice(theirs.workspace_id, their_client, "INV-0002", amount_due=7_000, currency="EUR")

    for params in ({}, {"status": "all"}, {"q": "INV"}, {"q": "acme"}):
        body = await listing(client, mine.api_token, **params)
        assert body["total_count"] == 1, params
        assert body["totals"] == [{"currency": "USD", "amount_due": 100}], params
        assert [item["client"]["id"] for item in body["items"]] == [str(my_client.id)], params


async def test_due_before_and_due_after(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    for number, day in (("NOV", dt.date(2026, 11, 10)), ("DEC", dt.date(2026, 12, 10)), ("JAN", dt.date(2027, 1, 10))):
        await add_invoice(firm.workspace_id, acme, number, due_date=day)

    assert numbers(await listing(client, firm.api_token, due_before="2026-12-01")) == ["NOV"]
    assert numbers(await listing(client, firm.api_token, due_after="2026-12-20")) == ["JAN"]
    between = await listing(client, firm.api_token, due_after="2026-12-01", due_before="2026-12-20")
    assert numbers(between) == ["DEC"]
    assert between["total_count"] == 1
    assert between["totals"] == [{"currency": "USD", "amount_due": 10_000}]
    assert await listing(client, firm.api_token, due_after="2027-02-01") == {
        "items": [],
        "next_cursor": None,
        "total_count": 0,
        "totals": [],
    }


async def test_bad_due_date_is_rejected_in_the_error_shape(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices", params={"due_before": "next week"}, headers=auth(firm.api_token))
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code, "due_before")


async def test_overdue_means_due_before_today_in_the_firms_time_zone(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    # The two zones are a day apart for most of the day, so "today" differs between the firms.
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        firm, _ = await workspaces.create()
        await Workspace.update({Workspace.timezone: zone}).where(Workspace.id == uuid.UUID(firm.workspace_id))
        acme = await make_client(firm.workspace_id)
        for attempt in range(2):
            today = dt.datetime.now(ZoneInfo(zone)).date()
            await Invoice.delete().where(Invoice.workspace == uuid.UUID(firm.workspace_id))
            await add_invoice(firm.workspace_id, acme, "LONG-AGO", due_date=today - dt.timedelta(days=40))
            await add_invoice(firm.workspace_id, acme, "YESTERDAY", due_date=today - dt.timedelta(days=1))
            await add_invoice(firm.workspace_id, acme, "TODAY", due_date=today)
            await add_invoice(firm.workspace_id, acme, "TOMORROW", due_date=today + dt.timedelta(days=1))
            await add_invoice(
                firm.workspace_id, acme, "PAID-LATE", due_date=today - dt.timedelta(days=9), status="paid"
            )
            body = await listing(client, firm.api_token, overdue="true")
            if dt.datetime.now(ZoneInfo(zone)).date() == today:
                break
            assert attempt == 0, "the firm's date changed twice during one test"
        assert numbers(body) == ["LONG-AGO", "YESTERDAY"], zone
        assert body["total_count"] == 2
        assert body["totals"] == [{"currency": "USD", "amount_due": 20_000}]


@pytest.fixture(params=["by ids", "broad"])
def search_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a search runs: narrow ones by the matching ids, broad ones (many matches) as a filter."""
    if request.param == "broad":
        monkeypatch.setattr(ledger.services, "SEARCH_IDS_LIMIT", 0)
    return str(request.param)


async def test_q_matches_number_reference_and_client_name_case_insensitively(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, search_path: str
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id, name="Acme Pty Ltd")
    brightwater = await make_client(firm.workspace_id, name="Brightwater Dental Group")
    await add_invoice(firm.workspace_id, acme, "INV-0101", reference="Q2 services", due_date=dt.date(2026, 12, 1))
    await add_invoice(firm.workspace_id, acme, "INV-0102", reference="PO 7781", due_date=dt.date(2026, 12, 2))
    await add_invoice(firm.workspace_id, brightwater, "INV-0203", reference="Retainer", due_date=dt.date(2026, 12, 3))

    assert numbers(await listing(client, firm.api_token, q="inv-0102")) == ["INV-0102"]
    assert numbers(await listing(client, firm.api_token, q="0203")) == ["INV-0203"]
    assert numbers(await listing(client, firm.api_token, q="po 7781")) == ["INV-0102"]
    assert numbers(await listing(client, firm.api_token, q="SERVICES")) == ["INV-0101"]
    assert numbers(await listing(client, firm.api_token, q="bRiGhTwAtEr")) == ["INV-0203"]
    assert numbers(await listing(client, firm.api_token, q="dental")) == ["INV-0203"]
    assert numbers(await listing(client, firm.api_token, q="acme")) == ["INV-0101", "INV-0102"]
    searched = await listing(client, firm.api_token, q="acme")
    assert searched["total_count"] == 2
    assert searched["totals"] == [{"currency": "USD", "amount_due": 20_000}]
    assert (await listing(client, firm.api_token, q="zzz-no-such"))["total_count"] == 0


async def test_q_treats_like_wildcards_as_plain_characters(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, search_path: str
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await add_invoice(firm.workspace_id, acme, "INV-1", reference="PO_77", due_date=dt.date(2026, 12, 1))
    await add_invoice(firm.workspace_id, acme, "INV-2", reference="PO-77", due_date=dt.date(2026, 12, 2))
    await add_invoice(firm.workspace_id, acme, "INV-3", reference="Retainer", due_date=dt.date(2026, 12, 3))

    assert numbers(await listing(client, firm.api_token, q="PO_77")) == ["INV-1"]
    assert numbers(await listing(client, firm.api_token, q="%")) == []


# ----- sorting and paging --------------------------------------------------------------------------------


async def seed_for_sorting(workspace_id: str) -> list[Invoice]:
    """Invoices with ties on due date and on amount, numbers not in due-date order."""
    acme = await make_client(workspace_id)
    rows = [
        ("INV-0005", 5_000, dt.date(2026, 12, 1)),
        ("INV-0002", 1_000, dt.date(2026, 11, 15)),
        ("INV-0007", 5_000, dt.date(2026, 12, 1)),
        ("INV-0001", 9_000, dt.date(2027, 1, 1)),
        ("INV-0004", 1_000, dt.date(2026, 12, 1)),
        ("INV-0006", 5_000, dt.date(2026, 11, 15)),
        ("INV-0003", 2_500, dt.date(2026, 12, 20)),
    ]
    return [
        await add_invoice(workspace_id, acme, number, amount_due=amount, due_date=due) for number, amount, due in rows
    ]


def sort_key(sort: str) -> Any:
    """How a page's items must be ordered for each sort (the tie-break is not the caller's business)."""
    field = {"due_date": "due_date", "amount_due": "amount_due", "number": "number"}[sort.lstrip("-")]
    return lambda item: item[field]


@pytest.mark.parametrize("sort", SORTS)
async def test_each_sort_orders_the_items(client: httpx.AsyncClient, workspaces: WorkspaceFactory, sort: str) -> None:
    firm, _ = await workspaces.create()
    await seed_for_sorting(firm.workspace_id)

    items = (await listing(client, firm.api_token, sort=sort))["items"]

    assert len(items) == 7
    keys = [sort_key(sort)(item) for item in items]
    assert keys == sorted(keys, reverse=sort.startswith("-"))
    if sort == "number":
        assert [item["number"] for item in items] == [f"INV-000{n}" for n in range(1, 8)]
    if sort == "due_date":
        assert items[0]["due_date"] == "2026-11-15"
        assert items[-1]["number"] == "INV-0001"
    if sort == "-amount_due":
        assert items[0]["number"] == "INV-0001"


async def test_default_sort_is_due_date_ascending(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    await seed_for_sorting(firm.workspace_id)
    default = await listing(client, firm.api_token)
    explicit = await listing(client, firm.api_token, sort="due_date")
    assert [item["id"] for item in default["items"]] == [item["id"] for item in explicit["items"]]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_keyset_paging_walks_every_row_exactly_once(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, sort: str, limit: int
) -> None:
    firm, _ = await workspaces.create()
    created = await seed_for_sorting(firm.workspace_id)
    whole = await listing(client, firm.api_token, sort=sort, limit=500)

    pages = await walk(client, firm.api_token, sort=sort, limit=limit)

    walked = [item for page in pages for item in page["items"]]
    assert [item["id"] for item in walked] == [item["id"] for item in whole["items"]]
    assert sorted(item["id"] for item in walked) == sorted(str(invoice.id) for invoice in created)
    assert all(0 < len(page["items"]) <= limit for page in pages), "no empty or oversized page"
    assert all(len(page["items"]) == limit for page in pages[:-1])
    assert len(pages) == -(-len(created) // limit)
    keys = [sort_key(sort)(item) for item in walked]
    assert keys == sorted(keys, reverse=sort.startswith("-"))
    for page in pages:
        assert page["total_count"] == 7
        assert page["totals"] == [{"currency": "USD", "amount_due": 28_500}]


@pytest.mark.parametrize("sort", SORTS)
async def test_paging_through_rows_that_all_tie_on_the_sort_key(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, sort: str
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    created = [await add_invoice(firm.workspace_id, acme, "INV-SAME", amount_due=4_200) for _ in range(6)]

    pages = await walk(client, firm.api_token, sort=sort, limit=2)

    walked = [item["id"] for page in pages for item in page["items"]]
    assert len(walked) == len(set(walked)) == 6
    assert set(walked) == {str(invoice.id) for invoice in created}
    assert len(pages) == 3


async def test_paging_keeps_filters_and_totals_on_every_page(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id, name="Acme Pty Ltd")
    other = await make_client(firm.workspace_id, name="Other Co")
    day = dt.date(2026, 12, 1)
    for index in range(5):
        await add_invoice(firm.workspace_id, acme, f"A-{index}", currency="USD", amount_due=1_000 + index, due_date=day)
    await add_invoice(firm.workspace_id, acme, "A-JPY", currency="JPY", amount_due=500, due_date=day)
    await add_invoice(firm.workspace_id, acme, "A-KWD", currency="KWD", amount_due=1_234, due_date=day)
    await add_invoice(firm.workspace_id, acme, "A-PAID", amount_due=0, status="paid", due_date=day)
    await add_invoice(firm.workspace_id, other, "O-1", amount_due=77_777, due_date=day)

    pages = await walk(client, firm.api_token, q="acme", sort="-amount_due", limit=3)

    assert len(pages) == 3
    walked = [item["number"] for page in pages for item in page["items"]]
    assert sorted(walked) == sorted(["A-0", "A-1", "A-2", "A-3", "A-4", "A-JPY", "A-KWD"])
    expected_totals = {"JPY": 500, "KWD": 1_234, "USD": 1_000 + 1_001 + 1_002 + 1_003 + 1_004}
    for page in pages:
        assert page["total_count"] == 7
        assert {total["currency"]: total["amount_due"] for total in page["totals"]} == expected_totals
        assert len(page["totals"]) == 3


async def test_totals_are_per_currency_and_never_added_across(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await add_invoice(firm.workspace_id, acme, "USD-1", currency="USD", amount_due=12_345)
    await add_invoice(firm.workspace_id, acme, "USD-2", currency="USD", amount_due=655)
    await add_invoice(firm.workspace_id, acme, "JPY-1", currency="JPY", amount_due=500)
    await add_invoice(firm.workspace_id, acme, "KWD-1", currency="KWD", amount_due=1_234)
    await add_invoice(firm.workspace_id, acme, "KWD-2", currency="KWD", amount_due=1)

    for limit in (1, 2, 50):
        pages = await walk(client, firm.api_token, limit=limit)
        for page in pages:
            assert page["total_count"] == 5
            assert sorted(page["totals"], key=lambda t: t["currency"]) == [
                {"currency": "JPY", "amount_due": 500},
                {"currency": "KWD", "amount_due": 1_235},
                {"currency": "USD", "amount_due": 13_000},
            ]
    items = (await listing(client, firm.api_token))["items"]
    assert {(item["number"], item["currency"], item["amount_due"]) for item in items} >= {
        ("JPY-1", "JPY", 500),
        ("KWD-1", "KWD", 1_234),
    }


async def test_limit_caps_the_page_and_defaults_to_50(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    for index in range(52):
        await make_invoice(firm.workspace_id, acme, number=f"INV-{index:04d}", amount_due=100)

    default = await listing(client, firm.api_token)
    assert len(default["items"]) == 50
    assert default["next_cursor"] is not None
    assert default["total_count"] == 52
    assert default["totals"] == [{"currency": "USD", "amount_due": 5_200}]
    rest = await listing(client, firm.api_token, cursor=default["next_cursor"])
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    biggest = await listing(client, firm.api_token, limit=500)
    assert len(biggest["items"]) == 52
    assert biggest["next_cursor"] is None


# ----- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["501", "0", "-1", "100000"])
async def test_limit_out_of_range_is_400(client: httpx.AsyncClient, workspaces: WorkspaceFactory, limit: str) -> None:
    firm, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices", params={"limit": limit}, headers=auth(firm.api_token))
    assert_error(response, 400, "limit")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("sort", "amount"),
        ("sort", "-number"),
        ("sort", "due_date; drop table invoice"),
        ("status", "unpaid"),
        ("status", "OUTSTANDING"),
        ("source", "sage"),
    ],
)
async def test_unknown_choice_is_422_naming_the_parameter(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, param: str, value: str
) -> None:
    firm, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices", params={param: value}, headers=auth(firm.api_token))
    assert_error(response, 422, param)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"value": 1}').decode(),
        base64.urlsafe_b64encode(b'["2026-12-01", "not-a-uuid"]').decode(),
    ],
)
async def test_garbage_cursor_is_422(client: httpx.AsyncClient, workspaces: WorkspaceFactory, cursor: str) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    await make_invoice(firm.workspace_id, acme)
    response = await client.get("/api/v1/invoices", params={"cursor": cursor}, headers=auth(firm.api_token))
    assert_error(response, 422, "cursor")


async def test_cursor_from_another_sort_is_422_not_500(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    firm, _ = await workspaces.create()
    await seed_for_sorting(firm.workspace_id)
    by_number = await listing(client, firm.api_token, sort="number", limit=2)
    assert by_number["next_cursor"]

    response = await client.get(
        "/api/v1/invoices",
        params={"sort": "due_date", "limit": 2, "cursor": by_number["next_cursor"]},
        headers=auth(firm.api_token),
    )
    assert_error(response, 422, "cursor")


async def test_list_needs_a_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/invoices"), 401)
    assert_error(await client.get("/api/v1/invoices", headers=auth("pt_not-a-token")), 401)


# ----- the invoice's PDF ---------------------------------------------------------------------------------


async def test_pdf_without_a_ledger_connection_answers_in_the_error_shape(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    invoice = await make_invoice(firm.workspace_id, acme)

    response = await client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=auth(firm.api_token))

    error = assert_error(response, 409)
    assert error["code"] == "conflict"
    assert not response.content.startswith(b"%PDF")
    assert response.headers["content-type"].startswith("application/json")


async def test_pdf_without_connection_serves_the_cached_copy_unchanged(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id)
    invoice = await make_invoice(firm.workspace_id, acme, number="INV-0777")
    content = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n"
    await InvoicePdf(invoice=invoice.id, version="AUTHORISED", content=content).save()

    response = await client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=auth(firm.api_token))

    assert response.status_code == 200, response.text
    assert response.content == content
    assert response.headers["content-type"].startswith("application/pdf")
    assert "INV-0777.pdf" in response.headers["content-disposition"]


async def test_pdf_of_another_workspaces_invoice_is_404(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    mine, _ = await workspaces.create()
    theirs, _ = await workspaces.create()
    their_client = await make_client(theirs.workspace_id)
    invoice = await make_invoice(theirs.workspace_id, their_client)
    for invoice_id in (str(invoice.id), str(uuid.uuid4()), "not-an-id"):
        response = await client.get(f"/api/v1/invoices/{invoice_id}/pdf", headers=auth(mine.api_token))
        assert assert_error(response, 404)["code"] == "not_found"


async def test_search_stays_right_after_the_planner_statistics_are_refreshed(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    firm, _ = await workspaces.create()
    acme = await make_client(firm.workspace_id, name="Acme Pty Ltd")
    for index in range(30):
        await add_invoice(firm.workspace_id, acme, f"INV-{index:04d}", due_date=dt.date(2026, 12, 1 + index % 28))

    await refresh_statistics({})

    found = await listing(client, firm.api_token, q="0017")
    assert numbers(found) == ["INV-0017"]
    assert found["totals"] == [{"currency": "USD", "amount_due": 10_000}]
    assert (await listing(client, firm.api_token, q="acme", limit=50))["total_count"] == 30


@pytest.mark.parametrize("params", [{"q": "\x00"}, {"q": "INV\x00-1"}, {"cursor": "a\x00"}, {"client_id": "\x00"}])
async def test_nul_in_a_filter_is_422_on_both_backends(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, params: dict[str, str]
) -> None:
    # Found by the long fuzz: `q` with a NUL was a 500 on PostgreSQL (text cannot hold NUL) and a 200 on SQLite.
    firm, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices", params=params, headers=auth(firm.api_token))
    assert_error(response, 422, "query")


async def test_empty_source_is_422_not_every_ledger(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    # Found by the long fuzz: `source=` listed every ledger's invoices although the document names only two values.
    firm, _ = await workspaces.create()
    response = await client.get("/api/v1/invoices", params={"source": ""}, headers=auth(firm.api_token))
    assert_error(response, 422, "source")
