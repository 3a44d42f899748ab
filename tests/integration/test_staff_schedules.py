"""Staff schedule collections from the ⋯ menu (one invoice, card chosen) and from the selection (bulk)."""

from __future__ import annotations

import datetime as dt

import httpx
from litestar import Litestar

from core.clock import utcnow
from portal.tables import ScheduledCollection
from tests.collection_helpers import save_card
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import csrf_from
from tests.integration.test_staff_invoices import _signed_in
from tests.stripe_harness import LocalStripe


async def test_schedule_one_invoice_with_a_chosen_card_then_cancel(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe, running_app: Litestar
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    customer = await make_client(workspace_id, name="Card Holder Ltd")
    invoice = await make_invoice(workspace_id, customer, number="INV-SCHED")
    await save_card(running_app.state.stripe, stripe_stand_in, customer, "4242424242424242")
    second = await save_card(running_app.state.stripe, stripe_stand_in, customer, "5555555555554444")

    listing = await client.get("/staff/collections")
    assert f"/staff/schedule?invoice_id={invoice.id}" in listing.text
    page = await client.get(f"/staff/schedule?invoice_id={invoice.id}")
    assert page.status_code == 200
    assert page.text.count('data-testid="schedule-card"') == 2
    collect_on = utcnow().date() + dt.timedelta(days=14)
    done = await client.post(
        "/staff/schedule",
        data={
            "invoice_ids": str(invoice.id),
            "single": "1",
            "payment_method_id": second,
            "collect_on": collect_on.isoformat(),
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/invoices/{invoice.id}"
    [row] = await ScheduledCollection.objects().where(ScheduledCollection.invoice == invoice.id)
    assert (row.payment_method_id, row.collect_on, row.status) == (second, collect_on, "scheduled")
    detail = await client.get(f"/staff/invoices/{invoice.id}")
    assert collect_on.strftime("%-d %b %Y") in detail.text

    past = await client.post(
        "/staff/schedule",
        data={
            "invoice_ids": str(invoice.id),
            "single": "1",
            "collect_on": "2020-01-01",
            "_csrf_token": csrf_from(page.text),
        },
    )
    assert past.status_code == 422
    assert "in the past" in past.text

    cancelled = await client.post(
        f"/staff/invoices/{invoice.id}/schedule/cancel", data={"_csrf_token": csrf_from(detail.text)}
    )
    assert cancelled.status_code == 303
    assert (await ScheduledCollection.objects().where(ScheduledCollection.invoice == invoice.id).first()).status == (
        "cancelled"
    )


async def test_bulk_schedule_skips_clients_without_a_card(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, stripe_stand_in: LocalStripe, running_app: Litestar
) -> None:
    workspace_id = await _signed_in(client, workspaces)
    with_card = await make_client(workspace_id, name="Has Card Ltd")
    without = await make_client(workspace_id, name="No Card Ltd")
    await save_card(running_app.state.stripe, stripe_stand_in, with_card, "4242424242424242")
    ready = [await make_invoice(workspace_id, with_card, number=f"INV-C{n}") for n in range(2)]
    skipped = await make_invoice(workspace_id, without, number="INV-NOCARD")
    page = await client.get("/staff/collections")
    for invoice in [*ready, skipped]:
        toggled = await client.post(
            "/staff/selection/toggle",
            data={"invoice_id": str(invoice.id), "selected": "1", "_csrf_token": csrf_from(page.text)},
        )
        assert toggled.status_code == 200

    panel = await client.get("/staff/schedule")
    assert panel.text.count('data-testid="schedule-row"') == 3
    assert "no saved card" in panel.text
    collect_on = utcnow().date() + dt.timedelta(days=3)
    form = [("invoice_ids", str(invoice.id)) for invoice in ready] + [
        ("collect_on", collect_on.isoformat()),
        ("_csrf_token", csrf_from(panel.text)),
    ]
    done = await client.post(
        "/staff/schedule",
        content=httpx.QueryParams(form).__str__(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/staff/collections?scheduled=2&skipped=0"
    rows = await ScheduledCollection.objects().where(ScheduledCollection.invoice.is_in([i.id for i in ready]))
    assert {row.collect_on for row in rows} == {collect_on}
    assert not await ScheduledCollection.exists().where(ScheduledCollection.invoice == skipped.id)
    notice = await client.get(done.headers["location"])
    assert "2 collections scheduled" in notice.text
