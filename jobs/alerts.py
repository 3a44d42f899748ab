"""Staff alerts the mail server refused, sent again until it takes them."""

from __future__ import annotations

import hashlib
from typing import Any

from saq.queue import Queue

from core.mail import MailError, OutgoingEmail, mailer_for
from jobs.spec import JobSpec, enqueue, retry_mail_later

ALERT = JobSpec(
    name="send_staff_alert", timeout=120, heartbeat=30, retries=12, retry_delay=30.0, retry_backoff=1800.0, ttl=3600
)
"""Retried like a payment request's email (about 90 minutes on `Settings.mail_retry_seconds`)."""


async def enqueue_alert(queue: Queue, email: OutgoingEmail) -> None:
    """Queue an alert for later (keyed by its content: the same alert to the same admin is queued once)."""
    digest = hashlib.sha256("\0".join((email.to, email.subject, email.text)).encode()).hexdigest()[:32]
    await enqueue(
        queue, ALERT, key=f"alert:{digest}", to=email.to, subject=email.subject, text=email.text, html=email.html
    )


async def send_staff_alert(ctx: dict[str, Any], *, to: str, subject: str, text: str, html: str) -> dict[str, str]:
    """Send one queued alert; the mail server's refusal retries it."""
    settings = ctx["settings"]
    try:
        await mailer_for(settings.smtp_url, settings.mail_from).send(
            OutgoingEmail(to=to, subject=subject, text=text, html=html)
        )
    except MailError as exc:
        raise retry_mail_later(ctx, str(exc)) from exc
    return {"status": "sent"}
