"""The hourly reminder run: re-send requests for unpaid invoices on the firm's schedule."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from core.clock import utcnow
from jobs.ledger import ledger_context
from staff.client_notices import ClientNotice, queue_client_notice
from staff.reminders import ReminderBatch, due_reminders

REMINDER_CRON = "7 * * * *"
"""Hourly, so each firm's steps go out soon after its local midnight."""

REMINDER_SUBJECT = "Reminder: {invoice_numbers} from {firm_name}"
NOTICE_SUBJECT = "We will collect {amount_due} on {collect_on}"


def _reminder_message(offset_days: int) -> str:
    if offset_days < 0:
        when = f"is due in {-offset_days} day{'s' if offset_days != -1 else ''}, on {{due_date}}"
    elif offset_days == 0:
        when = "is due today"
    else:
        when = "is now overdue (it was due on {due_date})"
    return (
        "Hi {client_name},\n\n"
        f"A friendly reminder that {{invoice_numbers}} for {{amount_due}} {when}. "
        "If you have already paid, thank you and please ignore this email. "
        "Otherwise you can view and pay it securely with the link below.\n\nThank you,\n{firm_name}"
    )


def _notice_message(collect_on: dt.date) -> str:
    return (
        "Hi {client_name},\n\n"
        f"This is a heads-up that we will collect {{amount_due}} for {{invoice_numbers}} from your saved card on "
        f"{collect_on:%-d %B %Y}. There is nothing you need to do. To pay another way or update your card, "
        "use the link below.\n\nThank you,\n{firm_name}"
    )


async def send_reminders(
    ctx: dict[str, Any], *, now: str | None = None, workspace_id: str | None = None
) -> dict[str, int]:
    """Queue every reminder and collection notice due now, in every workspace or one.

    `now` (ISO 8601) stands in for the clock, for tests and for catching up by hand.
    """
    moment = dt.datetime.fromisoformat(now) if now else utcnow()
    only = uuid.UUID(workspace_id) if workspace_id else None
    batches = await due_reminders(ledger_context(ctx), moment, workspace_id=only)
    for batch in batches:
        await _queue(ctx, batch)
    return {
        "reminders": sum(1 for batch in batches if batch.collect_on is None),
        "notices": sum(1 for batch in batches if batch.collect_on is not None),
    }


async def _queue(ctx: dict[str, Any], batch: ReminderBatch) -> None:
    if batch.collect_on is None:
        subject, message = REMINDER_SUBJECT, _reminder_message(batch.offset_days)
        kind, detail = "reminded", f"Reminder emailed ({_step_name(batch.offset_days)})"
    else:
        subject = NOTICE_SUBJECT.replace("{collect_on}", f"{batch.collect_on:%-d %B}")
        message = _notice_message(batch.collect_on)
        kind, detail = "collection_notice", f"Client told the card will be charged on {batch.collect_on:%-d %b %Y}"
    notice = ClientNotice(
        workspace_id=batch.workspace_id,
        client_id=batch.client_id,
        invoice_ids=batch.invoice_ids,
        subject=subject,
        message=message,
        kind=kind,
        detail=detail,
        created_by="reminders",
    )
    await queue_client_notice(ctx["queue"], notice)


def _step_name(offset_days: int) -> str:
    if offset_days == 0:
        return "due today"
    return (
        f"{abs(offset_days)} day{'s' if abs(offset_days) != 1 else ''} {'before' if offset_days < 0 else 'after'} due"
    )
