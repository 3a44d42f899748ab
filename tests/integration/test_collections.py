"""Scheduled collection from a saved card: scheduling rules, outcomes, emails and the ledger, on both backends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from litestar import Litestar

from core.clock import add_business_days, utcnow
from core.stripe_gateway import StripeGateway
from jobs.collections import run_due_collections
from portal.tables import Payment, ScheduledCollection
from tests.collection_helpers import Firm, eventually, worker_ctx
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import auth, json_of
from tests.integration.test_stripe_webhooks import event, signed
from tests.mailcatcher import Catcher
from tests.stripe_harness import LocalStripe


async def charges_of(stripe_stand_in: LocalStripe, customer_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stripe_stand_in.base_url) as http:
        page = await http.get(
            "/v1/charges", params={"customer": customer_id, "limit": 100}, auth=(stripe_stand_in.secret_key, "")
        )
    return list(page.json()["data"])


async def test_collect_now_charges_once_writes_back_and_sends_a_receipt(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4242424242424242")

    scheduled = await firm.schedule(client, collect_on=None)
    assert scheduled.status_code == 201, scheduled.text
    assert json_of(scheduled.content)["status"] == "scheduled"

    await eventually(lambda: _written_back(xero, firm))
    assert (await firm.detail(client))["status"] == "paid"
    [payment] = xero.sandbox.payments_for(firm.ledger_invoice.invoice_id)
    assert payment.amount_minor == firm.invoice.amount_due_minor
    assert payment.reference.startswith("pi_")
    assert firm.client.stripe_customer_id
    [charge] = await charges_of(stripe_stand_in, firm.client.stripe_customer_id)
    assert charge["amount"] == firm.invoice.amount_due_minor
    assert (await firm.collection()).status == "succeeded"
    assert firm.client.email
    receipts = [m for m in await mail.wait_for(firm.client.email) if m["Subject"].startswith("Receipt")]
    assert len(receipts) == 1
    kinds = [item["kind"] for item in (await firm.detail(client))["activity"]]
    assert "collection_scheduled" in kinds
    assert "collection_succeeded" in kinds


async def _status_is(firm: Firm, status: str, http: httpx.AsyncClient) -> bool:
    detail = await firm.detail(http)
    return bool(detail["status"] == status)


async def test_collect_on_a_date_waits_for_that_date_in_the_firms_time_zone(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> None:
    firm = await firm_with_card("4242424242424242")
    collect_on = utcnow().date() + dt.timedelta(days=5)
    scheduled = await firm.schedule(client, collect_on=collect_on.isoformat())
    assert scheduled.status_code == 201
    assert json_of(scheduled.content)["collect_on"] == collect_on.isoformat()
    assert (await firm.detail(client))["scheduled_collection"]["collect_on"] == collect_on.isoformat()

    ctx = worker_ctx(running_app)
    day_before = dt.datetime.combine(collect_on - dt.timedelta(days=1), dt.time(12), tzinfo=dt.UTC)
    assert (await run_due_collections(ctx, now=day_before.isoformat()))["claimed"] == 0
    assert (await firm.collection()).status == "scheduled"

    on_the_day = dt.datetime.combine(collect_on, dt.time(9), tzinfo=dt.UTC)
    assert (await run_due_collections(ctx, now=on_the_day.isoformat()))["claimed"] == 1
    await eventually(lambda: _status_is(firm, "paid", client))
    assert firm.client.stripe_customer_id
    assert len(await charges_of(stripe_stand_in, firm.client.stripe_customer_id)) == 1
    # A second cron tick finds nothing more to do.
    assert (await run_due_collections(ctx, now=on_the_day.isoformat()))["claimed"] == 0


async def test_reschedule_and_cancel_until_processing(
    client: httpx.AsyncClient, firm_with_card: Callable[[str], Awaitable[Firm]]
) -> None:
    firm = await firm_with_card("4242424242424242")
    first = utcnow().date() + dt.timedelta(days=10)
    later = first + dt.timedelta(days=7)
    assert (await firm.schedule(client, collect_on=first.isoformat())).status_code == 201
    moved = await firm.schedule(client, collect_on=later.isoformat())
    assert moved.status_code == 201
    assert (await firm.detail(client))["scheduled_collection"]["collect_on"] == later.isoformat()
    assert await ScheduledCollection.count().where(ScheduledCollection.invoice == firm.invoice.id) == 1

    url = f"/api/v1/invoices/{firm.invoice.id}/schedule"
    assert (await client.delete(url, headers=auth(firm.token))).status_code == 204
    assert (await firm.detail(client))["scheduled_collection"] is None
    gone = await client.delete(url, headers=auth(firm.token))
    assert gone.status_code == 404
    assert json_of(gone.content)["error"]["code"] == "not_found"

    assert (await firm.schedule(client, collect_on=later.isoformat())).status_code == 201
    await ScheduledCollection.update({ScheduledCollection.status: "processing"}).where(
        (ScheduledCollection.invoice == firm.invoice.id) & (ScheduledCollection.status == "scheduled")
    )
    busy = await client.delete(url, headers=auth(firm.token))
    assert busy.status_code == 409
    assert (await firm.schedule(client, collect_on=later.isoformat())).status_code == 409


async def test_bad_schedules_are_refused_and_change_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, firm_with_card: Callable[[str], Awaitable[Firm]]
) -> None:
    created, _ = await workspaces.create()
    customer = await make_client(created.workspace_id, name="No Card Ltd")
    no_card = await make_invoice(created.workspace_id, customer)
    paid = await make_invoice(created.workspace_id, customer, number="INV-PAID", status="paid")
    token = created.api_token

    refused = await client.post(f"/api/v1/invoices/{no_card.id}/schedule", json={}, headers=auth(token))
    assert refused.status_code == 409
    assert "no saved payment method" in json_of(refused.content)["error"]["message"]
    closed = await client.post(f"/api/v1/invoices/{paid.id}/schedule", json={}, headers=auth(token))
    assert closed.status_code == 422

    firm = await firm_with_card("4242424242424242")
    other = await client.post(f"/api/v1/invoices/{firm.invoice.id}/schedule", json={}, headers=auth(token))
    assert other.status_code == 404
    past = await firm.schedule(client, collect_on="2020-01-01")
    assert past.status_code == 422
    assert "collect_on" in json_of(past.content)["error"]["fields"]
    unknown = await firm.schedule(client, collect_on=None, payment_method_id="pm_not_theirs")
    assert unknown.status_code == 422
    assert "payment_method_id" in json_of(unknown.content)["error"]["fields"]
    malformed = await firm.schedule(client, collect_on="next tuesday")
    assert malformed.status_code == 400
    assert await ScheduledCollection.count().where(ScheduledCollection.invoice.is_in([firm.invoice.id])) == 0


async def test_paid_in_the_ledger_meanwhile_cancels_without_charging(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    running_app: Litestar,
) -> None:
    firm = await firm_with_card("4242424242424242")
    collect_on = utcnow().date() + dt.timedelta(days=3)
    assert (await firm.schedule(client, collect_on=collect_on.isoformat())).status_code == 201
    xero.sandbox.mark_paid(firm.ledger_invoice.invoice_id)  # The bookkeeper recorded a bank transfer.

    on_the_day = dt.datetime.combine(collect_on, dt.time(9), tzinfo=dt.UTC)
    await run_due_collections(worker_ctx(running_app), now=on_the_day.isoformat())
    await eventually(lambda: _collection_is(firm, "cancelled"))
    assert firm.client.stripe_customer_id
    assert await charges_of(stripe_stand_in, firm.client.stripe_customer_id) == []
    assert "nothing charged" in (await firm.collection()).note
    assert (await firm.detail(client))["status"] == "paid"
    assert len(xero.sandbox.payments_for(firm.ledger_invoice.invoice_id)) == 1


async def _collection_is(firm: Firm, status: str) -> bool:
    return (await firm.collection()).status == status


async def test_declined_card_emails_client_and_staff_and_retries_after_three_business_days(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    workspaces: WorkspaceFactory,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4000000000000341")  # Saves fine; every charge is declined.

    assert (await firm.schedule(client, collect_on=None)).status_code == 201
    await eventually(lambda: _retry_scheduled(firm))
    collection = await firm.collection()
    assert collection.attempt == 1
    assert collection.decline_code
    assert collection.collect_on == add_business_days(utcnow().date(), 3)
    assert (await firm.detail(client))["status"] == "outstanding"
    failed = await Payment.objects().where(Payment.idempotency_key == f"collection:{collection.id}:0").first()
    assert failed is not None
    assert failed.status == "failed"

    assert firm.client.email
    [notice] = await mail.wait_for(firm.client.email)
    assert "didn't go through" in notice["Subject"]
    text = notice.get_body(("plain",)).get_content()
    assert "/p/" in text
    assert "try your card again on" in text
    assert workspaces.last_email
    [alert] = await mail.wait_for(workspaces.last_email)
    assert "declined" in alert["Subject"]


async def _retry_scheduled(firm: Firm) -> bool:
    collection = await firm.collection()
    return collection.status == "scheduled" and collection.attempt == 1


async def test_card_needing_authentication_off_session_emails_the_client(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    stripe_stand_in: LocalStripe,
    mail: Catcher,
) -> None:
    firm = await firm_with_card("4000002500003155")

    assert (await firm.schedule(client, collect_on=None)).status_code == 201
    await eventually(lambda: _collection_is(firm, "requires_action"))
    assert (await firm.detail(client))["status"] == "outstanding"
    assert firm.client.email
    [notice] = await mail.wait_for(firm.client.email)
    assert "confirm your payment" in notice["Subject"]
    assert "Nothing has been charged" in notice.get_body(("plain",)).get_content()
    assert firm.client.stripe_customer_id
    assert await charges_of(stripe_stand_in, firm.client.stripe_customer_id) == []


async def test_refund_after_write_back_removes_the_ledger_payment(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    xero: XeroStandIn,
    running_app: Litestar,
) -> None:
    firm = await firm_with_card("4242424242424242")
    assert (await firm.schedule(client, collect_on=None)).status_code == 201
    await eventually(lambda: _written_back(xero, firm))
    payment = await Payment.objects().where(Payment.client == firm.client.id).first()
    assert payment is not None
    assert payment.stripe_payment_intent_id
    gateway: StripeGateway = running_app.state.stripe
    await gateway.refund(payment.stripe_payment_intent_id, idempotency_key=f"refund:{payment.id}")

    refunded = {"id": "ch_refunded", "object": "charge", "payment_intent": payment.stripe_payment_intent_id}
    body, header = signed(event("charge.refunded", refunded))
    delivered = await client.post("/webhooks/stripe", content=body, headers={"stripe-signature": header})
    assert delivered.status_code == 200

    await eventually(lambda: _ledger_payment_deleted(xero, firm))
    assert xero.sandbox.invoice(firm.ledger_invoice.invoice_id).status == "AUTHORISED"

    # The job notes the removal in the invoice's history once Xero has answered, a moment after the deletion.
    async def removal_noted() -> bool:
        return "ledger_payment_removed" in [item["kind"] for item in (await firm.detail(client))["activity"]]

    await eventually(removal_noted)
    assert (await firm.detail(client))["status"] == "outstanding"


async def _written_back(xero: XeroStandIn, firm: Firm) -> bool:
    return bool(xero.sandbox.payments_for(firm.ledger_invoice.invoice_id))


async def _ledger_payment_deleted(xero: XeroStandIn, firm: Firm) -> bool:
    return [p.status for p in xero.sandbox.payments_for(firm.ledger_invoice.invoice_id)] == ["DELETED"]


async def test_paying_in_the_portal_cancels_a_collection_waiting_for_its_date(
    client: httpx.AsyncClient,
    firm_with_card: Callable[[str], Awaitable[Firm]],
    stripe_stand_in: LocalStripe,
) -> None:
    firm = await firm_with_card("4242424242424242")
    collect_on = utcnow().date() + dt.timedelta(days=10)
    assert (await firm.schedule(client, collect_on=collect_on.isoformat())).status_code == 201
    link = await make_request(str(firm.invoice.workspace), firm.client, [firm.invoice])

    opened = await client.get(f"/p/{link}", follow_redirects=False)
    request_id = opened.headers["location"].rsplit("/", 1)[1]
    page = await client.get(f"/portal/requests/{request_id}/pay?invoice={firm.invoice.id}")
    headers = {"x-csrftoken": page.text.split('data-csrf="', 1)[1].split('"', 1)[0]}
    setup = json_of((await client.post("/portal/payments/setup-intent", json={}, headers=headers)).content)
    await stripe_stand_in.confirm_card_setup(setup["client_secret"], "5555555555554444")
    body = {
        "request_id": request_id,
        "invoice_ids": [str(firm.invoice.id)],
        "setup_intent_id": setup["setup_intent_id"],
    }
    paid = json_of((await client.post("/portal/payments", json=body, headers=headers)).content)
    assert paid["status"] == "succeeded"

    collection = await firm.collection()
    assert collection.status == "cancelled"
    assert "nothing charged" in collection.note
    assert (await firm.detail(client))["scheduled_collection"] is None
