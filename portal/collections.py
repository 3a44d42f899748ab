"""Charging a scheduled collection off-session, at most once, with the ledger checked just before.

Each collection moves scheduled → processing → succeeded | failed | cancelled | requires_action, and only
the holder of the `scheduled → processing` transition charges. The attempt's Payment row (idempotency key
`collection:{id}:{attempt}`) is committed before Stripe is called, so a worker killed mid-charge leaves a
trace: its retry first looks for the intent Stripe made for that payment, and charges only when there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from typing import Literal

import msgspec
import structlog

from core.clock import add_business_days, local_date, utcnow
from core.db import write_transaction
from core.stripe_gateway import GatewayError, PaymentMethodNotOwned, PaymentOutcome, StripeGateway
from core.tables import Activity, Workspace
from ledger.clients import LedgerContext
from ledger.sync import sync_connection
from ledger.tables import Client, Invoice, LedgerConnection
from portal.payments import settle
from portal.tables import Payment, PaymentAllocation, ScheduledCollection

log = structlog.get_logger()

HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "fraudulent",
        "do_not_honor",
        "do_not_try_again",
        "invalid_account",
        "card_not_supported",
        "currency_not_supported",
        "expired_card",
        "incorrect_number",
        "invalid_number",
        "new_account_information_available",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "security_violation",
        "service_not_allowed",
        "stop_payment_order",
        "transaction_not_allowed",
        "card_removed",
    }
)
"""Declines a retry cannot fix (Stripe's guidance: don't retry these); anything else is soft."""

LEASE = dt.timedelta(seconds=30)
"""How long a run that stopped renewing (killed) keeps others off the collection."""

Outcome = Literal["succeeded", "failed", "requires_action", "cancelled", "processing", "waiting", "skipped"]


FOLLOWED_UP: frozenset[str] = frozenset({"succeeded", "failed", "requires_action"})
"""Outcomes that call for emails or jobs (a receipt and write-back, or the client's notice)."""
FOLLOW_UP_GRACE = dt.timedelta(minutes=1)
"""The run that recorded an outcome follows it up within seconds; after this the cron does it instead."""


class CollectionResult(msgspec.Struct, frozen=True):
    """What one run of a collection did (the job sends the emails it calls for)."""

    status: Outcome
    collection_id: str
    payment_id: str | None = None
    decline_code: str | None = None
    message: str | None = None
    retry_on: dt.date | None = None


async def due_collection_ids(now: dt.datetime, *, among: list[uuid.UUID] | None = None) -> list[uuid.UUID]:
    """Scheduled collections (of `among`, if given) whose date has come in their workspace's time zone."""
    condition = (ScheduledCollection.status == "scheduled") & (
        ScheduledCollection.collect_on <= now.date() + dt.timedelta(days=1)  # UTC+14 is at most a day ahead
    )
    if among is not None:
        condition &= ScheduledCollection.id.is_in(among or [uuid.UUID(int=0)])
    rows = await ScheduledCollection.select(
        ScheduledCollection.id, ScheduledCollection.collect_on, ScheduledCollection.workspace.timezone
    ).where(condition)
    return [row["id"] for row in rows if row["collect_on"] <= local_date(now, row["workspace.timezone"] or "UTC")]


async def claim_collections(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """Move due collections to `processing`; returns those this caller won (each is charged by its winner only).

    PostgreSQL locks with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on each other's rows;
    SQLite has one writer at a time, and the conditional UPDATE does the rest.
    """
    if not ids:
        return []
    now = utcnow()
    if ScheduledCollection._meta.db.engine_type == "postgres":
        rows = await ScheduledCollection.raw(
            "UPDATE scheduled_collection SET status = 'processing', updated_at = {} "
            "WHERE id IN (SELECT id FROM scheduled_collection WHERE id = ANY({}::uuid[]) "
            "AND status = 'scheduled' FOR UPDATE SKIP LOCKED) RETURNING id",
            now,
            ids,
        )
        return [uuid.UUID(str(row["id"])) for row in rows]
    async with write_transaction():
        rows = (
            await ScheduledCollection.update(
                {ScheduledCollection.status: "processing", ScheduledCollection.updated_at: now}
            )
            .where(ScheduledCollection.id.is_in(ids) & (ScheduledCollection.status == "scheduled"))
            .returning(ScheduledCollection.id)
        )
    return [row["id"] for row in rows]


async def processing_collection_ids() -> list[uuid.UUID]:
    """Claimed collections not finished yet (their job is queued, running, or was lost with its worker)."""
    rows = await ScheduledCollection.select(ScheduledCollection.id).where(ScheduledCollection.status == "processing")
    return [row["id"] for row in rows]


async def collect(
    gateway: StripeGateway, ledger: LedgerContext, collection_id: uuid.UUID, *, now: dt.datetime
) -> CollectionResult:
    """Run one claimed collection to its end; safe to run again at any point, and never twice at once."""
    lease = await _take_lease(collection_id)
    if lease is None:
        return CollectionResult(status="skipped", collection_id=str(collection_id))
    renewing = asyncio.create_task(_renew_lease(collection_id, lease))
    try:
        collection = await ScheduledCollection.objects().where(ScheduledCollection.id == collection_id).first()
        assert collection is not None
        return await _run(gateway, ledger, collection, lease, now=now)
    except _LeaseLost:
        log.warning("collection_lease_lost", collection_id=str(collection_id))
        return CollectionResult(status="skipped", collection_id=str(collection_id))
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await ScheduledCollection.update(
            {ScheduledCollection.lease_token: None, ScheduledCollection.lease_until: None}
        ).where((ScheduledCollection.id == collection_id) & (ScheduledCollection.lease_token == lease))


async def _take_lease(collection_id: uuid.UUID) -> str | None:
    """Become the one run of a processing collection; None while another live run holds it.

    The queue runs a key once at a time, but a job retried while its first run still lives (a stalled
    worker swept by another) or a second queue would otherwise charge in parallel.
    """
    token = str(uuid.uuid4())
    now = utcnow()
    taken = (
        await ScheduledCollection.update(
            {ScheduledCollection.lease_token: token, ScheduledCollection.lease_until: now + LEASE}
        )
        .where(
            (ScheduledCollection.id == collection_id)
            & (ScheduledCollection.status == "processing")
            & (ScheduledCollection.lease_until.is_null() | (ScheduledCollection.lease_until < now))
        )
        .returning(ScheduledCollection.id)
    )
    return token if taken else None


async def _renew_lease(collection_id: uuid.UUID, token: str) -> None:
    """Keep the lease while the run lives; a killed run stops renewing and the lease lapses in LEASE."""
    while True:
        await asyncio.sleep(LEASE.total_seconds() / 3)
        await _hold_lease(collection_id, token)


async def _hold_lease(collection_id: uuid.UUID, token: str) -> bool:
    """Extend the lease; False when this run lost it (it stalled past LEASE and another run took over)."""
    held = (
        await ScheduledCollection.update({ScheduledCollection.lease_until: utcnow() + LEASE})
        .where(
            (ScheduledCollection.id == collection_id)
            & (ScheduledCollection.lease_token == token)
            & (ScheduledCollection.status == "processing")
        )
        .returning(ScheduledCollection.id)
    )
    return bool(held)


class _LeaseLost(Exception):
    """This run may no longer charge: another run holds the collection."""


async def _run(
    gateway: StripeGateway, ledger: LedgerContext, collection: ScheduledCollection, lease: str, *, now: dt.datetime
) -> CollectionResult:
    if collection.payment is None:
        blocked = await _ledger_check(ledger, collection)
        if blocked is not None:
            return blocked
        payment_id = await _start_attempt(collection)
        if payment_id is None:
            return await _wait(collection, "A payment of this invoice is in flight; collection will try again.")
        resumed = False
    else:
        payment_id, resumed = collection.payment, True
    payment = await Payment.objects().where(Payment.id == payment_id).first()
    assert payment is not None
    outcome = await _charge_once(gateway, collection, payment, lease, resumed=resumed)
    status = await settle(payment.id, outcome)
    return await _finish(gateway, collection, payment, outcome, status, now=now)


async def _ledger_check(ledger: LedgerContext, collection: ScheduledCollection) -> CollectionResult | None:
    """Re-read the invoice from its ledger; paid or voided there means no charge. LedgerError propagates (retry)."""
    invoice = await Invoice.objects().where(Invoice.id == collection.invoice).first()
    assert invoice is not None
    if invoice.connection is not None:
        connection = await LedgerConnection.objects().where(LedgerConnection.id == invoice.connection).first()
        if connection is None or connection.status != "active":
            return await _end(
                collection,
                "failed",
                note="The ledger connection needs reconnecting, so the invoice could not be checked; nothing charged.",
            )
        await sync_connection(ledger, str(connection.id), invoice_ids=[invoice.external_id])
        invoice = await Invoice.objects().where(Invoice.id == collection.invoice).first()
        assert invoice is not None
    if invoice.status in ("paid", "voided") or invoice.amount_due_minor <= 0:
        source = invoice.source.capitalize() if invoice.connection is not None else "the ledger"
        return await _end(collection, "cancelled", note=f"Already {invoice.status} in {source}; nothing charged.")
    return None


async def _start_attempt(collection: ScheduledCollection) -> uuid.UUID | None:
    """Claim the invoice and record this attempt's payment in one transaction; None if the invoice is busy."""
    async with write_transaction():
        claimed = (
            await Invoice.update({Invoice.status: "processing", Invoice.updated_at: utcnow()})
            .where((Invoice.id == collection.invoice) & (Invoice.status == "outstanding"))
            .returning(Invoice.id, Invoice.amount_due_minor, Invoice.currency, Invoice.client)
        )
        if not claimed:
            return None
        [invoice] = claimed
        payment = Payment(
            workspace=collection.workspace,
            client=invoice["client"],
            idempotency_key=f"collection:{collection.id}:{collection.attempt}",
            currency=invoice["currency"],
            amount_minor=invoice["amount_due_minor"],
            status="created",
        )
        await payment.save()
        await PaymentAllocation(
            payment=payment.id, invoice=collection.invoice, amount_minor=invoice["amount_due_minor"]
        ).save()
        await ScheduledCollection.update(
            {ScheduledCollection.payment: payment.id, ScheduledCollection.updated_at: utcnow()}
        ).where(ScheduledCollection.id == collection.id)
    return payment.id


async def _charge_once(
    gateway: StripeGateway, collection: ScheduledCollection, payment: Payment, lease: str, *, resumed: bool
) -> PaymentOutcome:
    """Stripe's intent for this payment: the one already made, found again (`resumed` runs only), or made now."""
    if payment.stripe_payment_intent_id:
        return await gateway.retrieve_payment_intent(payment.stripe_payment_intent_id)
    client = await Client.objects().where(Client.id == payment.client).first()
    assert client is not None
    customer_id = client.stripe_customer_id or ""
    outcome = None
    if resumed and customer_id:
        outcome = await gateway.find_charged_intent(
            customer_id=customer_id,
            payment_id=str(payment.id),
            amount_minor=payment.amount_minor,
            currency=payment.currency,
        )
    if outcome is None:
        if not await _hold_lease(collection.id, lease):  # Fencing: only the lease holder reaches Stripe.
            raise _LeaseLost()
        try:
            outcome = await gateway.charge(
                customer_id=customer_id,
                payment_method_id=collection.payment_method_id,
                amount_minor=payment.amount_minor,
                currency=payment.currency,
                metadata={
                    "workspace_id": str(payment.workspace),
                    "collection_id": str(collection.id),
                    "payment_id": str(payment.id),
                    "invoice_ids": str(collection.invoice),
                },
                idempotency_key=payment.idempotency_key,
                off_session=True,
            )
        except PaymentMethodNotOwned:
            outcome = _declined(payment, collection, "card_removed", "The saved card is no longer on file.")
        except GatewayError as exc:
            if exc.retryable or not customer_id:
                raise
            outcome = _declined(payment, collection, exc.code or "card_declined", exc.message)
    if outcome.intent_id:
        await Payment.update({Payment.stripe_payment_intent_id: outcome.intent_id}).where(
            (Payment.id == payment.id) & Payment.stripe_payment_intent_id.is_null()
        )
    return outcome


def _declined(payment: Payment, collection: ScheduledCollection, code: str, message: str) -> PaymentOutcome:
    """An outcome for a charge Stripe never made (the card was gone or refused before any intent)."""
    return PaymentOutcome(
        intent_id=None,
        status="requires_payment_method",
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        payment_method_id=collection.payment_method_id,
        decline_code=code,
        message=message,
    )


async def _finish(
    gateway: StripeGateway,
    collection: ScheduledCollection,
    payment: Payment,
    outcome: PaymentOutcome,
    status: str,
    *,
    now: dt.datetime,
) -> CollectionResult:
    """Close the collection by what `settle` made of Stripe's answer."""
    payment_id = str(payment.id)
    if status == "succeeded":
        return await _end(collection, "succeeded", note="Collected.", payment_id=payment_id)
    if status == "requires_action":
        # Off-session and the bank wants the client: stop this intent so it can never complete unseen,
        # and let the client pay on the portal, where 3-D Secure can run.
        if outcome.intent_id:
            cancelled = await gateway.cancel_payment_intent(outcome.intent_id, idempotency_key=f"cancel:{payment.id}")
            await settle(payment.id, cancelled)
        return await _end(
            collection,
            "requires_action",
            note="The client's bank asked them to confirm the payment; they were emailed a link.",
            payment_id=payment_id,
        )
    if status == "processing":  # Stripe's word comes later (webhook); the cron looks again meanwhile.
        return CollectionResult(status="processing", collection_id=str(collection.id), payment_id=payment_id)
    code = outcome.decline_code or "card_declined"
    message = outcome.message or "The card was declined."
    retry_on = await _retry_date(collection, code, now=now)
    return await _end(
        collection,
        "failed",
        note=f"Declined: {message}" + (f" Retrying on {retry_on:%-d %b %Y}." if retry_on else ""),
        payment_id=payment_id,
        decline_code=code,
        message=message,
        retry_on=retry_on,
    )


async def _retry_date(collection: ScheduledCollection, code: str, *, now: dt.datetime) -> dt.date | None:
    """When to try a soft decline once more under the workspace's policy; None for no retry."""
    if code in HARD_DECLINES or collection.attempt >= 1:
        return None
    policy = (
        await Workspace.select(Workspace.retry_soft_declines, Workspace.retry_after_business_days, Workspace.timezone)
        .where(Workspace.id == collection.workspace)
        .first()
    )
    if policy is None or not policy["retry_soft_declines"]:
        return None
    return add_business_days(local_date(now, policy["timezone"]), max(int(policy["retry_after_business_days"]), 1))


async def _wait(collection: ScheduledCollection, note: str) -> CollectionResult:
    """Hand the collection back to the schedule (the next run tries again)."""
    await ScheduledCollection.update(
        {
            ScheduledCollection.status: "scheduled",
            ScheduledCollection.note: note,
            ScheduledCollection.updated_at: utcnow(),
        }
    ).where((ScheduledCollection.id == collection.id) & (ScheduledCollection.status == "processing"))
    return CollectionResult(status="waiting", collection_id=str(collection.id))


async def _end(
    collection: ScheduledCollection,
    status: Outcome,
    *,
    note: str,
    payment_id: str | None = None,
    decline_code: str | None = None,
    message: str | None = None,
    retry_on: dt.date | None = None,
) -> CollectionResult:
    """Close the collection (or, for a retry, put it back with the next attempt) and log it, once.

    Returns `skipped` when another run closed it first. An outcome that calls for emails or jobs is stored
    with it as the collection's `follow_up`, in the same write, so they happen even if this run dies next.
    """
    result = CollectionResult(
        status=status,
        collection_id=str(collection.id),
        payment_id=payment_id,
        decline_code=decline_code,
        message=message,
        retry_on=retry_on,
    )
    values: dict[object, object] = {
        ScheduledCollection.status: status,
        ScheduledCollection.note: note,
        ScheduledCollection.decline_code: decline_code,
        ScheduledCollection.follow_up: msgspec.json.encode(result).decode() if status in FOLLOWED_UP else None,
        ScheduledCollection.updated_at: utcnow(),
    }
    if retry_on is not None:
        values |= {
            ScheduledCollection.status: "scheduled",
            ScheduledCollection.collect_on: retry_on,
            ScheduledCollection.attempt: collection.attempt + 1,
            ScheduledCollection.payment: None,
        }
    async with write_transaction():
        moved = (
            await ScheduledCollection.update(values)  # type: ignore[arg-type]
            .where((ScheduledCollection.id == collection.id) & (ScheduledCollection.status == "processing"))
            .returning(ScheduledCollection.id)
        )
        if not moved:
            return CollectionResult(status="skipped", collection_id=str(collection.id))
        await Activity(
            workspace=collection.workspace,
            invoice_id=str(collection.invoice),
            kind=f"collection_{status}",
            detail=note,
        ).save()
    log.info("collection_finished", collection_id=str(collection.id), status=status, decline_code=decline_code)
    return result


async def take_follow_up(collection_id: uuid.UUID) -> CollectionResult | None:
    """The outcome still to follow up, which this caller now owns; None when there is none or another took it.

    Call it inside a write transaction that also writes what the follow-up does (the client's notice), so
    taking it and doing it commit together.
    """
    row = (
        await ScheduledCollection.select(ScheduledCollection.follow_up)
        .where(ScheduledCollection.id == collection_id)
        .first()
    )
    if row is None or row["follow_up"] is None:
        return None
    taken = (
        await ScheduledCollection.update({ScheduledCollection.follow_up: None})
        .where((ScheduledCollection.id == collection_id) & ScheduledCollection.follow_up.is_not_null())
        .returning(ScheduledCollection.id)
    )
    return msgspec.json.decode(row["follow_up"], type=CollectionResult) if taken else None


async def follow_ups_due(now: dt.datetime) -> list[uuid.UUID]:
    """Collections whose outcome was not followed up within a minute: the run that owned it died."""
    rows = await ScheduledCollection.select(ScheduledCollection.id).where(
        ScheduledCollection.follow_up.is_not_null() & (ScheduledCollection.updated_at < now - FOLLOW_UP_GRACE)
    )
    return [row["id"] for row in rows]
