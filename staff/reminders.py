"""Reminders: requested invoices still unpaid are re-sent on the firm's schedule around the due date.

A reminder goes out only after a fresh look at the ledger, and only once per invoice and step (a unique
row in `reminder_sent` is taken before the email is queued). A client whose invoice has a collection
scheduled gets a "we will collect on …" notice instead of a request to pay.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass

from piccolo.custom_types import Combinable

from core.clock import local_date
from core.errors import Invalid
from core.tables import Workspace
from ledger.clients import LedgerContext
from ledger.sync import sync_connection
from ledger.tables import Invoice
from portal.tables import PaymentRequestInvoice, ReminderSent, ScheduledCollection

MAX_STEPS = 6
STEP_RANGE = range(-30, 91)


def parse_reminder_days(text: str) -> list[int]:
    """`"-3, 0, 7, 14"` → `[-3, 0, 7, 14]`: days relative to the due date; empty turns reminders off."""
    parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    try:
        days = sorted({int(part) for part in parts})
    except ValueError:
        raise Invalid(
            "Reminder days must be whole numbers.", fields={"reminder_days": "For example -3, 0, 7, 14."}
        ) from None
    if len(days) > MAX_STEPS or any(day not in STEP_RANGE for day in days):
        raise Invalid(
            "Too many or too distant reminder days.",
            fields={"reminder_days": f"At most {MAX_STEPS} days, each from -30 to 90."},
        )
    return days


@dataclass(frozen=True)
class ReminderBatch:
    """One client's email for one reminder step: invoices to remind, or a notice of a scheduled collection."""

    workspace_id: uuid.UUID
    client_id: uuid.UUID
    offset_days: int
    invoice_ids: list[uuid.UUID]
    collect_on: dt.date | None
    """Set for a notice: the date the saved card will be charged."""


async def due_reminders(
    ledger: LedgerContext, now: dt.datetime, *, workspace_id: uuid.UUID | None = None
) -> list[ReminderBatch]:
    """Reminder emails due now (in every workspace, or one), after a fresh ledger check; marks each step taken.

    Only invoices a payment request has gone out for are reminded, and each step of each invoice once.
    """
    batches: list[ReminderBatch] = []
    condition: Combinable = Workspace.reminder_days != ""
    if workspace_id is not None:
        condition &= Workspace.id == workspace_id
    workspaces = await Workspace.select(Workspace.id, Workspace.timezone, Workspace.reminder_days).where(condition)
    for workspace in workspaces:
        today = local_date(now, workspace["timezone"])
        try:
            steps = parse_reminder_days(workspace["reminder_days"])
        except Invalid:
            continue
        for offset in steps:
            batches += await _step(ledger, workspace["id"], offset, today - dt.timedelta(days=offset))
    return batches


async def _step(ledger: LedgerContext, workspace_id: uuid.UUID, offset: int, due_date: dt.date) -> list[ReminderBatch]:
    candidates = await _requested_unpaid(workspace_id, due_date, offset)
    if not candidates:
        return []
    await _refresh_from_ledger(ledger, candidates)
    still_open = await Invoice.select(Invoice.id, Invoice.client).where(
        Invoice.id.is_in([invoice.id for invoice in candidates]) & (Invoice.status == "outstanding")
    )
    taken = await _take_steps(workspace_id, [row["id"] for row in still_open], offset)
    collections = {
        row["invoice"]: row["collect_on"]
        for row in await ScheduledCollection.select(ScheduledCollection.invoice, ScheduledCollection.collect_on).where(
            ScheduledCollection.invoice.is_in(list(taken) or [uuid.UUID(int=0)])
            & (ScheduledCollection.status == "scheduled")
        )
    }
    grouped: dict[tuple[uuid.UUID, dt.date | None], list[uuid.UUID]] = defaultdict(list)
    for row in still_open:
        if row["id"] in taken:
            grouped[(row["client"], collections.get(row["id"]))].append(row["id"])
    return [
        ReminderBatch(workspace_id, client_id, offset, invoice_ids, collect_on)
        for (client_id, collect_on), invoice_ids in grouped.items()
    ]


async def _requested_unpaid(workspace_id: uuid.UUID, due_date: dt.date, offset: int) -> list[Invoice]:
    """Outstanding invoices due on that date, requested before, with an email, not yet reminded at this step."""
    invoices = await Invoice.objects().where(
        (Invoice.workspace == workspace_id)
        & (Invoice.due_date == due_date)
        & (Invoice.status == "outstanding")
        & Invoice.client.email.is_not_null()
    )
    if not invoices:
        return []
    ids = [invoice.id for invoice in invoices]
    requested = {
        row["invoice"]
        for row in await PaymentRequestInvoice.select(PaymentRequestInvoice.invoice).where(
            PaymentRequestInvoice.invoice.is_in(ids) & (PaymentRequestInvoice.request.status.is_in(["sent", "paid"]))
        )
    }
    done = {
        row["invoice"]
        for row in await ReminderSent.select(ReminderSent.invoice).where(
            ReminderSent.invoice.is_in(ids) & (ReminderSent.offset_days == offset)
        )
    }
    return [invoice for invoice in invoices if invoice.id in requested and invoice.id not in done]


async def _refresh_from_ledger(ledger: LedgerContext, invoices: list[Invoice]) -> None:
    """Bring these invoices up to date from their ledgers (a paid one then drops out)."""
    by_connection: dict[uuid.UUID, list[str]] = defaultdict(list)
    for invoice in invoices:
        if invoice.connection is not None:
            by_connection[invoice.connection].append(invoice.external_id)
    for connection_id, external_ids in by_connection.items():
        for start in range(0, len(external_ids), 50):
            await sync_connection(ledger, str(connection_id), invoice_ids=external_ids[start : start + 50])


async def _take_steps(workspace_id: uuid.UUID, invoice_ids: list[uuid.UUID], offset: int) -> set[uuid.UUID]:
    """Record the step for each invoice; returns the invoices this caller recorded (others were reminded already)."""
    if not invoice_ids:
        return set()
    rows = (
        await ReminderSent.insert(
            *[
                ReminderSent(workspace=workspace_id, invoice=invoice_id, offset_days=offset, kind="reminder")
                for invoice_id in invoice_ids
            ]
        )
        .on_conflict(target=(ReminderSent.invoice, ReminderSent.offset_days), action="DO NOTHING")
        .returning(ReminderSent.invoice)
    )
    return {row["invoice"] for row in rows}
