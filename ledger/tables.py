"""Ledger connections and what they import: clients and invoices."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    UUID,
    BigInt,
    Boolean,
    Bytea,
    Date,
    ForeignKey,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import Workspace


class LedgerGrant(Table):
    """One OAuth consent: the token pair it produced, shared by every tenant it authorised.

    Xero issues one token set per consent, valid for all tenants chosen in it, and the
    refresh token rotates on every use; keeping it once, here, means two tenants can never
    spend the same refresh token.
    """

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    provider = Varchar(length=16, null=False)
    access_token_enc = Text(null=False, help_text="Encrypted at rest.")
    refresh_token_enc = Text(null=False, help_text="Encrypted at rest.")
    access_token_expires_at = Timestamptz(null=False)
    token_version = BigInt(default=0, null=False, help_text="Bumped on every refresh.")
    refresh_lease_until = Timestamptz(
        null=True, default=None, help_text="While in the future, one process is refreshing the tokens."
    )
    revoked_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), null=False)


class LedgerConnection(Table):
    """One authorised Xero tenant or QuickBooks realm of a workspace."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    provider = Varchar(length=16, null=False, help_text="xero or quickbooks.")
    status = Varchar(
        length=32, default="pending", null=False, help_text="pending, active, reauthorization_required, disconnected."
    )
    tenant_id = Varchar(length=64, null=True, default=None, help_text="Xero tenantId or QuickBooks realmId.")
    tenant_name = Varchar(length=255, null=True, default=None)
    oauth_state = Varchar(length=128, null=True, default=None, unique=True, help_text="Pending consent's state.")
    pkce_verifier_enc = Text(null=True, default=None)
    grant = ForeignKey(LedgerGrant, null=True, default=None, on_delete=OnDelete.restrict)
    payment_account_code = Varchar(length=32, null=True, default=None)
    sync_cursor = Varchar(length=64, null=True, default=None, help_text="Ledger time of the last complete sync.")
    last_synced_at = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    import_report = JSON(default="{}", null=False, help_text="Counts and skipped invoices of the last sync.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)


class Client(Table):
    """A firm's customer as known to the ledger (Xero Contact, QuickBooks Customer)."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    source = Varchar(length=16, null=False)
    external_id = Varchar(length=64, null=False)
    name = Varchar(length=255, null=False)
    email = Varchar(length=320, null=True, default=None)
    stripe_customer_id = Varchar(length=64, null=True, default=None, unique=True)
    has_saved_card = Boolean(
        default=False, null=False, help_text="Mirror of Stripe: the client keeps at least one card with us."
    )
    created_at = Timestamptz(default=TimestamptzNow(), null=False)


class Invoice(Table):
    """An imported sales invoice; amounts in the currency's minor unit."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    connection = ForeignKey(LedgerConnection, null=True, default=None, on_delete=OnDelete.restrict)
    client = ForeignKey(Client, null=False, on_delete=OnDelete.restrict)
    source = Varchar(length=16, null=False, help_text="xero or quickbooks.")
    external_id = Varchar(length=64, null=False, help_text="Xero InvoiceID, QuickBooks Id.")
    number = Varchar(length=64, null=False, help_text="Xero InvoiceNumber, QuickBooks DocNumber.")
    reference = Varchar(length=255, default="", null=False)
    currency = Varchar(length=3, null=False)
    total_minor = BigInt(null=False)
    amount_paid_minor = BigInt(default=0, null=False)
    amount_due_minor = BigInt(null=False, index=True)
    issue_date = Date(null=False)
    due_date = Date(null=False, index=True)
    status = Varchar(length=16, default="outstanding", null=False, index=True)
    ledger_status = Varchar(length=32, null=False)
    ledger_updated_at = Timestamptz(null=True, default=None)
    pdf_version = Varchar(length=64, null=True, default=None, help_text="Ledger version the cached PDF belongs to.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    updated_at = Timestamptz(default=TimestamptzNow(), null=False)


class InvoicePdf(Table):
    """The ledger's own PDF of an invoice, cached per ledger version; bytes kept exactly as received."""

    id = UUID(primary_key=True)
    invoice = ForeignKey(Invoice, null=False, unique=True, on_delete=OnDelete.restrict)
    version = Varchar(length=64, null=False, help_text="Ledger version (Xero UpdatedDateUTC, QuickBooks SyncToken).")
    content = Bytea(null=False)
    fetched_at = Timestamptz(default=TimestamptzNow(), null=False)
