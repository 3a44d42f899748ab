"""A worker that dies right after recording an outcome loses no email: the cron sweeps finish the work, once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

import httpx
from litestar import Litestar

from core.clock import utcnow
from jobs.collections import run_due_collections
from jobs.ledger import ledger_context
from jobs.payments import requeue_receipts
from portal.collections import claim_collections, collect
from portal.tables import Payment
from tests.collection_helpers import Firm, eventually, worker_ctx
from tests.conftest import WorkspaceFactory
from tests.helpers import auth
from tests.mailcatcher import Catcher

SWEEP_DELAY = dt.timedelta(minutes=3)
"""Later than both sweeps' grace periods (a minute for follow-ups, two for receipts)."""


async def charged_without_follow_up(firm: Firm, client: httpx.AsyncClient, app: Litestar, card_outcome: str) -> None:
    """Schedule a collection for a later date, then run its charge as the job does and stop there.

    That is the state a worker killed right after committing the outcome leaves behind: the charge and its
    outcome recorded, no email or follow-up job queued.
    """
    collect_on = utcnow().date() + dt.timedelta(days=3)
    assert (await firm.schedule(client, collect_on=collect_on.isoformat())).status_code == 201
    collection = await firm.collection()
    assert await claim_collections([collection.id]) == [collection.id]
    result = await collect(app.state.stripe, ledger_context(worker_ctx(app)), collection.id, now=utcnow())
    assert result.status == card_outcome


async def test_a_decline_whose_run_died_is_emailed_once_by_the_cron(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    running_app: Litestar,
    workspaces: WorkspaceFactory,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4000000000000341")  # Saves fine; every charge is declined.
    assert firm.client.email
    await charged_without_follow_up(firm, client, running_app, "failed")
    ctx = worker_ctx(running_app)

    # The sweeps are global: other tests' leftovers may be in their counts, so the emails are what is checked.
    await run_due_collections(ctx, now=utcnow().isoformat())  # too early: its run may still be alive
    await asyncio.sleep(0.5)
    assert mail.to(firm.client.email) == []

    assert (await run_due_collections(ctx, now=(utcnow() + SWEEP_DELAY).isoformat()))["follow_ups"] >= 1
    [notice] = await mail.wait_for(firm.client.email)
    assert "didn't go through" in notice["Subject"]
    assert "/p/" in notice.get_body(("plain",)).get_content()
    assert workspaces.last_email
    [alert] = await mail.wait_for(workspaces.last_email)
    assert "declined" in alert["Subject"]

    await run_due_collections(ctx, now=(utcnow() + SWEEP_DELAY).isoformat())
    await asyncio.sleep(1)
    assert len(mail.to(firm.client.email)) == 1
    assert len(mail.to(workspaces.last_email)) == 1
    # The soft decline put the collection back for a retry: cancel it so no other test's cron claims it.
    cancelled = await client.delete(f"/api/v1/invoices/{firm.invoice.id}/schedule", headers=auth(firm.token))
    assert cancelled.status_code == 204


async def test_a_receipt_whose_job_was_lost_is_sent_once_by_the_sweep(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    running_app: Litestar,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4242424242424242")
    assert firm.client.email
    await charged_without_follow_up(firm, client, running_app, "succeeded")
    # The collection's follow-up would queue the receipt too; drop it, as if the queue had lost that job.
    ctx = worker_ctx(running_app)
    payment = await Payment.objects().where(Payment.client == firm.client.id).first()
    assert payment is not None
    assert payment.receipt_sent_at is None

    await requeue_receipts(ctx, now=utcnow().isoformat())  # too early to call it lost
    await asyncio.sleep(0.5)
    assert mail.to(firm.client.email) == []
    assert (await requeue_receipts(ctx, now=(utcnow() + SWEEP_DELAY).isoformat()))["queued"] >= 1
    [receipt] = await mail.wait_for(firm.client.email)
    assert receipt["Subject"].startswith("Receipt")
    await eventually(lambda: _receipt_recorded(payment))

    await requeue_receipts(ctx, now=(utcnow() + SWEEP_DELAY).isoformat())
    await asyncio.sleep(1)
    assert len(mail.to(firm.client.email)) == 1


async def _receipt_recorded(payment: Payment) -> bool:
    row = await Payment.select(Payment.receipt_sent_at).where(Payment.id == payment.id).first()
    return row is not None and row["receipt_sent_at"] is not None
