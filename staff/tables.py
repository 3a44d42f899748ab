"""Staff accounts and API tokens."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import Workspace


class StaffUser(Table):
    """A person at the firm who signs in to the staff pages."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    email = Varchar(length=320, unique=True, null=False, help_text="Lower-cased; the sign-in name.")
    password_hash = Varchar(length=255, null=False, help_text="argon2id hash.")
    role = Varchar(length=16, default="member", null=False, help_text="admin or member.")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    last_login_at = Timestamptz(null=True, default=None)


class ApiToken(Table):
    """A bearer token for the JSON API; only the SHA-256 of the token is stored."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    token_hash = Varchar(length=64, unique=True, null=False)
    name = Varchar(length=100, default="default", null=False)
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class MessageTemplate(Table):
    """A saved subject and message for payment requests ("due soon", "overdue"…), per workspace."""

    id = UUID(primary_key=True)
    workspace = ForeignKey(Workspace, null=False, on_delete=OnDelete.restrict)
    name = Varchar(length=60, null=False)
    subject = Varchar(length=255, null=False)
    body = Text(null=False, help_text="Placeholders: {client_name} {invoice_numbers} {amount_due} {due_date} …")
    created_at = Timestamptz(default=TimestamptzNow(), null=False)
