"""Payment requests, their magic links, payments and scheduled collections."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    Date,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import Workspace
from ledger.tables import Client, Invoice


class PaymentRequest(Table):
    """One email to one client asking them to pay some invoices, with its magic link."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    client = ForeignKey(Client, null=False, on_delete=OnDelete.restrict)
    batch_id = Varchar(length=36, null=False, index=True)
    status = Varchar(
        length=16, default="queued", null=False, help_text="queued, sending, sent, failed, revoked, paid, cancelled."
    )
    subject = Varchar(length=255, null=False)
    message = Text(default="", null=False)
    settings = JSON(default="{}", null=False, help_text="card, bank_debit, save_payment_method.")
    token_hash = Varchar(length=64, unique=True, null=False, help_text="SHA-256 of the magic-link token.")
    link_expires_at = Timestamptz(null=False)
    sent_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    note = Text(default="", null=False, help_text="What happened at send time, e.g. invoices dropped as paid.")
    last_error = Text(null=True, default=None)
    created_by = Varchar(length=320, default="", null=False, help_text="Staff email or 'api'.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    requested_from = Varchar(
        length=320,
        null=True,
        default=None,
        help_text="The client's email when staff sent the request. Set, it stands for a 'requested' activity"
        " row on each of the request's invoices (at created_at), which is then not stored.",
    )


class PaymentRequestInvoice(Table):
    """Which invoices a payment request covers."""

    request = ForeignKey(PaymentRequest, null=False, on_delete=OnDelete.restrict)
    invoice = ForeignKey(
        Invoice,
        null=False,
        index=True,
        on_delete=OnDelete.restrict,
        help_text="Indexed: each list row shows its last request.",
    )


class Payment(Table):
    """One Stripe PaymentIntent; never deleted, only moved through its states."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    client = ForeignKey(Client, null=False, on_delete=OnDelete.restrict)
    stripe_payment_intent_id = Varchar(length=64, null=True, default=None, unique=True)
    idempotency_key = Varchar(length=128, unique=True, null=False)
    currency = Varchar(length=3, null=False)
    amount_minor = BigInt(null=False)
    status = Varchar(length=24, default="created", null=False, help_text="created, processing, succeeded, failed…")
    failure_message = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    succeeded_at = Timestamptz(null=True, default=None)
    receipt_sent_at = Timestamptz(null=True, default=None, help_text="When the client's receipt went out.")


class PaymentAllocation(Table):
    """The part of a payment that settles one invoice; written back to the ledger exactly once."""

    id = UUID(primary_key=True)
    payment = ForeignKey(Payment, null=False, on_delete=OnDelete.restrict)
    invoice = ForeignKey(Invoice, null=False, on_delete=OnDelete.restrict)
    amount_minor = BigInt(null=False)
    ledger_payment_id = Varchar(length=64, null=True, default=None)
    written_back_at = Timestamptz(null=True, default=None)
    write_back_failed_at = Timestamptz(
        null=True, default=None, help_text="The ledger refused it for good; retried once the connection is fixed."
    )
    reversed_at = Timestamptz(null=True, default=None, help_text="When the ledger payment was removed (refund).")


class ScheduledCollection(Table):
    """A charge against a client's saved payment method, now or on a date.

    scheduled → processing → succeeded | failed | cancelled | requires_action. A soft decline may put a
    failed collection back to `scheduled` with the next `attempt`; each attempt has its own Payment, whose
    idempotency key is `collection:{id}:{attempt}`.
    """

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    invoice = ForeignKey(Invoice, null=False, on_delete=OnDelete.restrict)
    payment_method_id = Varchar(length=64, null=False)
    collect_on = Date(null=False, index=True, help_text="The date in the workspace's time zone.")
    status = Varchar(length=16, default="scheduled", null=False, index=True)
    attempt = Integer(default=0, null=False)
    payment = ForeignKey(Payment, null=True, default=None, on_delete=OnDelete.restrict, help_text="Latest attempt.")
    decline_code = Varchar(length=64, null=True, default=None)
    note = Text(default="", null=False)
    lease_token = Varchar(length=36, null=True, default=None, help_text="The run allowed to charge, while leased.")
    lease_until = Timestamptz(null=True, default=None, help_text="The lease lapses then if its run died.")
    created_by = Varchar(length=320, default="", null=False, help_text="Staff email or 'api'.")
    follow_up = Text(
        null=True,
        default=None,
        help_text="An outcome whose emails and jobs are still to happen (JSON); cleared by whoever does them.",
    )
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    updated_at = Timestamptz(default=TimestamptzNow(), null=False)


class ReminderSent(Table):
    """One reminder step done for one invoice (unique per invoice and step, so never sent twice)."""

    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    invoice = ForeignKey(Invoice, null=False, on_delete=OnDelete.restrict)
    offset_days = Integer(null=False, help_text="Days after the due date (negative: before).")
    kind = Varchar(length=16, null=False, help_text="reminder, notice (a collection is scheduled) or skipped.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
