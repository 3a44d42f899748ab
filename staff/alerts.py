"""Telling a firm's admins that something needs them (failed delivery, failed write-back…)."""

from __future__ import annotations

import uuid
from html import escape

import structlog

from core.mail import MailError, OutgoingEmail, mailer_for
from core.settings import Settings
from staff.tables import StaffUser

log = structlog.get_logger()


async def alert_staff(settings: Settings, workspace_id: uuid.UUID, *, subject: str, text: str) -> int:
    """Email every admin of the workspace; best effort (the failure is also in the activity history)."""
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
            log.warning("staff_alert_undelivered", workspace_id=str(workspace_id))
    return sent
