"""Ledger text in files we hand out: CSV cells that are not formulas, PDF names that cannot break a header."""

from __future__ import annotations

import csv
import io
from urllib.parse import unquote

import httpx

from core.headers import content_disposition
from ledger.tables import InvoicePdf
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import csrf_from


async def _signed_in(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> str:
    created, email = await workspaces.create()
    page = await client.get("/staff/login")
    await client.post(
        "/staff/login", data={"email": email, "password": workspaces.password, "_csrf_token": csrf_from(page.text)}
    )
    return created.workspace_id


async def test_csv_cells_starting_with_a_formula_character_are_neutralised(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    hostile = await make_client(workspace_id, name="+SUM(1+1)*cmd|' /C calc'!A0", email="@evil.example")
    await make_invoice(workspace_id, hostile, number='=HYPERLINK("https://evil.example","Pay")')
    plain = await make_client(workspace_id, name="Plain Pty Ltd", email="ap@plain.example")
    await make_invoice(workspace_id, plain, number="INV-PLAIN", amount_due=-500)
    for number in ("-1+1", "@SUM(A1)", "\tTAB"):
        await make_invoice(workspace_id, plain, number=number)

    export = await client.get("/staff/collections.csv")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    cells = [row[column] for row in rows for column in ("number", "client", "client_email")]
    assert cells, "the export is empty"
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    by_number = {row["number"]: row for row in rows}
    hyperlink = by_number['\'=HYPERLINK("https://evil.example","Pay")']
    assert hyperlink["client"] == "'+SUM(1+1)*cmd|' /C calc'!A0"
    assert hyperlink["client_email"] == "'@evil.example"
    assert {"'-1+1", "'@SUM(A1)", "'\tTAB"} <= set(by_number)
    assert by_number["INV-PLAIN"]["client"] == "Plain Pty Ltd"  # ordinary text is unchanged
    assert by_number["INV-PLAIN"]["amount_due"] == "-5.00"  # amounts are ours, and stay numbers


async def test_invoice_copy_with_a_hostile_or_non_ascii_number_downloads_safely(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id)
    number = 'Счёт "7"; x\r\nSet-Cookie: a=b'
    invoice = await make_invoice(created.workspace_id, customer, number=number)
    await InvoicePdf(invoice=invoice.id, version="AUTHORISED", content=b"%PDF-1.4 copy").save()
    token = await make_request(created.workspace_id, customer, [invoice])
    await client.get(f"/p/{token}")
    response = await client.get(f"/portal/invoices/{invoice.id}/pdf")
    assert response.status_code == 200
    assert response.content == b"%PDF-1.4 copy"
    assert not [cookie for cookie in response.headers.get_list("set-cookie") if cookie.startswith("a=")]
    header = response.headers["content-disposition"]
    assert header.startswith('inline; filename="')
    assert "\r" not in header
    assert "\n" not in header
    assert unquote(header.split("filename*=UTF-8''")[1]) == f"{number}.pdf"


def test_plain_names_keep_the_plain_header() -> None:
    assert content_disposition("inline", "INV-0001.pdf") == 'inline; filename="INV-0001.pdf"'
    assert content_disposition("attachment", 'a"b.pdf') == (
        "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%22b.pdf"
    )
