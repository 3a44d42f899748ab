"""Telling a firm's admins that something needs them (failed delivery, failed write-back…)."""

from __future__ import annotations

import uuid
from html import escape

import structlog
from saq.queue import Queue

from core.mail import MailError, OutgoingEmail, mailer_for
from core.settings import Settings
from jobs.alerts import enqueue_alert
from staff.tables import StaffUser

log = structlog.get_logger()


async def alert_staff(
    settings: Settings, workspace_id: uuid.UUID, *, subject: str, text: str, queue: Queue | None = None
) -> int:
    """Email every admin of the workspace; returns how many emails went now.

    An alert the mail server refuses is queued to be sent again when a queue is given (a job's: the
    failure being reported may be the mail server itself); without one it is only logged, and the
    failure stays in the activity history.
    """
    admins = await StaffUser.select(StaffUser.email).where(
        (StaffUser.workspace == workspace_id) & (StaffUser.role == "admin")
    )
    mailer = mailer_for(settings.smtp_url, settings.mail_from)
    review = f"{settings.base_url.rstrip('/')}/staff/requests"
    sent = 0
    for admin in admins:
        email = OutgoingEmail(
            to=admin["email"],
            subject=f"[Collections] {subject}",
            text=f"{text}\n\nReview: {review}",
            html=f'<p>{escape(text)}</p><p><a href="{review}">Review payment requests</a></p>',
            workspace_id=str(workspace_id),
        )
        try:
            await mailer.send(email)
            sent += 1
        except MailError:
            log.warning("staff_alert_undelivered", workspace_id=str(workspace_id), queued=queue is not None)
            if queue is not None:
                await enqueue_alert(queue, email)
    return sent
