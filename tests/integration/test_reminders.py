"""Reminders on the firm's schedule: once per step, only while the ledger still says unpaid, notice when scheduled."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar

from core.tables import Workspace
from jobs.reminders import send_reminders
from portal.tables import ScheduledCollection
from tests.collection_helpers import Firm, worker_ctx
from tests.conftest import XeroStandIn
from tests.factories import make_request
from tests.helpers import auth
from tests.mailcatcher import Catcher


def at(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC).isoformat()


async def test_requested_invoice_is_reminded_once_per_step_until_paid_in_the_ledger(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    xero: XeroStandIn,
    running_app: Litestar,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4242424242424242")
    await make_request(str(firm.invoice.workspace), firm.client, [firm.invoice])
    ctx = worker_ctx(running_app)
    due = firm.invoice.due_date
    assert firm.client.email

    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due - dt.timedelta(days=5))) == {
        "reminders": 0,
        "notices": 0,
    }
    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due - dt.timedelta(days=3))) == {
        "reminders": 1,
        "notices": 0,
    }
    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due - dt.timedelta(days=3))) == {
        "reminders": 0,
        "notices": 0,
    }
    [reminder] = await mail.wait_for(firm.client.email)
    assert reminder["Subject"].startswith("Reminder:")
    text = reminder.get_body(("plain",)).get_content()
    assert "is due in 3 days" in text
    assert "/p/" in text
    assert [part.get_filename() for part in reminder.iter_attachments()] == [f"{firm.invoice.number}.pdf"]

    xero.sandbox.mark_paid(firm.ledger_invoice.invoice_id)  # Paid by bank transfer, recorded in Xero.
    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due)) == {
        "reminders": 0,
        "notices": 0,
    }
    detail = (await client.get(f"/api/v1/invoices/{firm.invoice.id}", headers=auth(firm.token))).json()
    assert detail["status"] == "paid"
    assert "reminded" in [item["kind"] for item in detail["activity"]]


async def test_scheduled_collection_gets_a_notice_instead_and_reminders_can_be_turned_off(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    running_app: Litestar,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4242424242424242")
    await make_request(str(firm.invoice.workspace), firm.client, [firm.invoice])
    due = firm.invoice.due_date
    scheduled = await firm.schedule(client, collect_on=due.isoformat())
    assert scheduled.status_code == 201
    ctx = worker_ctx(running_app)

    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due - dt.timedelta(days=3))) == {
        "reminders": 0,
        "notices": 1,
    }
    assert firm.client.email
    [notice] = await mail.wait_for(firm.client.email)
    assert notice["Subject"].startswith("We will collect")
    assert f"{due:%-d %B %Y}" in notice.get_body(("plain",)).get_content()
    assert await ScheduledCollection.count().where(ScheduledCollection.invoice == firm.invoice.id) == 1

    await Workspace.update({Workspace.reminder_days: ""}).where(Workspace.id == firm.invoice.workspace)
    assert await send_reminders(ctx, workspace_id=str(firm.invoice.workspace), now=at(due)) == {
        "reminders": 0,
        "notices": 0,
    }
