"""Tables shared by every area: workspaces, instance secrets, key-value store, webhooks, activity."""

from __future__ import annotations

from piccolo.columns import (
    UUID,
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Workspace(Table):
    """One accounting firm: every other row belongs to exactly one workspace."""

    id = UUID(primary_key=True)
    name = Varchar(length=200, null=False, help_text="Firm name shown to clients.")
    timezone = Varchar(length=64, default="UTC", null=False, help_text="Decides what 'today' means for schedules.")
    reply_to = Varchar(length=320, null=True, default=None, help_text="Reply-To address on client emails.")
    link_lifetime_days = Integer(
        default=30, null=False, help_text="Magic links live this long after the last due date."
    )
    logo_url = Varchar(
        length=500, null=True, default=None, help_text="https URL of the firm's logo for the portal and emails."
    )
    retry_soft_declines = Boolean(
        default=True, null=False, help_text="Retry a scheduled collection once after a soft decline."
    )
    retry_after_business_days = Integer(default=3, null=False, help_text="Business days before that retry.")
    reminder_days = Varchar(
        length=100,
        default="-3,0,7,14",
        null=False,
        help_text="Days relative to the due date on which requested, unpaid invoices are reminded ('' = off).",
    )
    templates_seeded_at = Timestamptz(
        null=True, default=None, help_text="When the default message templates were added (only ever once)."
    )
    created_at = Timestamptz(default=TimestamptzNow(), null=False)


class InstanceSetting(Table):
    """Values generated once per installation, such as the secret key when none is configured."""

    key = Varchar(length=64, unique=True, null=False)
    value = Text(null=False)


class KeyValue(Table, tablename="key_value"):
    """Expiring key-value entries behind server-side sessions and rate-limit counters."""

    key = Varchar(length=255, unique=True, null=False)
    value = Bytea(null=False)
    expires_at = Timestamptz(null=True, default=None, index=True)


class WebhookEvent(Table):
    """One row per provider event id, so a repeated delivery is recognised and skipped."""

    id = UUID(primary_key=True)
    provider = Varchar(length=32, null=False, help_text="stripe, xero or quickbooks.")
    event_id = Varchar(length=255, null=False)
    received_at = Timestamptz(default=TimestamptzNow(), null=False)
    processed_at = Timestamptz(null=True, default=None)


class Activity(Table):
    """What happened to an invoice or request, shown to staff as its history."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    invoice_id = Varchar(length=36, null=True, default=None, index=True)
    request_id = Varchar(length=36, null=True, default=None, index=True)
    kind = Varchar(length=40, null=False, help_text="imported, requested, opened, paid, failed…")
    detail = Text(default="", null=False)
    at = Timestamptz(default=TimestamptzNow(), null=False, index=True)


class OutboxMessage(Table):
    """Mail kept instead of sent when no SMTP server is configured (the demo), shown to staff."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(
        Workspace,
        null=True,
        on_delete=OnDelete.cascade,
        index=True,
        help_text="Whose email it is: staff see only their own workspace's mail (none for mail of no workspace).",
    )
    recipient = Varchar(length=320, null=False)
    subject = Varchar(length=255, null=False)
    mime = Bytea(null=False, help_text="The full RFC 5322 message.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False, index=True)
