"""Workspaces, staff accounts, sign-in and API tokens."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import msgspec
from litestar.stores.base import Store
from piccolo.query.functions.aggregate import Count, Sum

from core.clock import utcnow
from core.errors import Invalid, NotAuthenticated, Throttled
from core.scope import WorkspaceScope
from core.security import hash_password, new_token, token_digest, verify_password
from core.store import RateLimiter
from core.tables import Workspace
from ledger.tables import Invoice
from staff.schemas import StaffIdentity, WorkspaceCreated
from staff.tables import ApiToken, StaffUser

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$|^[^@\s]+@localhost$")
MIN_PASSWORD_LENGTH = 10


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


async def create_workspace(*, name: str, admin_email: str, admin_password: str) -> WorkspaceCreated:
    """A new firm with its first admin and an API token (returned once, stored hashed)."""
    errors: dict[str, str] = {}
    email = normalise_email(admin_email)
    if not name.strip():
        errors["name"] = "Give the workspace a name."
    if not _EMAIL.match(email):
        errors["admin_email"] = "Enter a valid email address."
    if len(admin_password) < MIN_PASSWORD_LENGTH:
        errors["admin_password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if not errors and await StaffUser.exists().where(StaffUser.email == email):
        errors["admin_email"] = "A staff account with this email already exists."
    if errors:
        raise Invalid("The workspace could not be created.", fields=errors)

    token = new_token("pt_")
    workspace = Workspace(name=name.strip())
    async with Workspace._meta.db.transaction():
        await workspace.save()
        await StaffUser(
            workspace=workspace.id, email=email, password_hash=hash_password(admin_password), role="admin"
        ).save()
        await ApiToken(workspace=workspace.id, token_hash=token_digest(token), name="cli").save()
    return WorkspaceCreated(workspace_id=str(workspace.id), api_token=token)


async def scope_for_api_token(token: str) -> WorkspaceScope:
    """The workspace an API bearer token acts for; NotAuthenticated when unknown or revoked."""
    row = (
        await ApiToken.select(ApiToken.id, ApiToken.workspace)
        .where((ApiToken.token_hash == token_digest(token)) & ApiToken.revoked_at.is_null())
        .first()
    )
    if row is None:
        raise NotAuthenticated("Missing or invalid API token.")
    return WorkspaceScope(workspace_id=uuid.UUID(str(row["workspace"])))


class SignIn:
    """Password sign-in, throttled per account (5 failures a minute) and per address (30, for shared offices)."""

    def __init__(self, store: Store) -> None:
        self.per_account = RateLimiter(store, limit=5, window_seconds=60)
        self.per_address = RateLimiter(store, limit=30, window_seconds=60)

    async def authenticate(self, *, email: str, password: str, client_ip: str) -> StaffIdentity:
        """The staff member, or NotAuthenticated / Throttled (checked before the password)."""
        email = normalise_email(email)
        account_key, address_key = f"login:email:{token_digest(email)}", f"login:ip:{client_ip}"
        wait = max(await self.per_account.retry_after(account_key), await self.per_address.retry_after(address_key))
        if wait:
            raise Throttled(f"Too many sign-in attempts. Try again in {wait} seconds.", retry_after=wait)
        user = await StaffUser.objects().where(StaffUser.email == email).first()
        if not verify_password(user.password_hash if user else None, password) or user is None:
            await self.per_account.hit(account_key)
            await self.per_address.hit(address_key)
            raise NotAuthenticated("That email and password do not match.")
        await self.per_account.reset(account_key)
        await StaffUser.update({StaffUser.last_login_at: utcnow()}).where(StaffUser.id == user.id)
        return StaffIdentity(staff_id=str(user.id), workspace_id=str(user.workspace), email=user.email, role=user.role)


class OutstandingRow(msgspec.Struct):
    """One line of the Collections table."""

    id: str
    number: str
    client_name: str
    source: str
    currency: str
    amount_due: int
    due_date: dt.date
    status: str


class CurrencyTotal(msgspec.Struct):
    """A per-currency sum (amounts are never added across currencies)."""

    currency: str
    amount_due: int


class OutstandingOverview(msgspec.Struct):
    """The first page of a Collections tab and its per-currency totals."""

    rows: list[OutstandingRow]
    totals: list[CurrencyTotal]
    total_count: int


async def outstanding_overview(scope: WorkspaceScope, *, status: str, limit: int = 50) -> OutstandingOverview:
    """Invoices of one Collections tab, soonest due first."""
    query = scope.select(
        Invoice,
        Invoice.id,
        Invoice.number,
        Invoice.client.name,
        Invoice.source,
        Invoice.currency,
        Invoice.amount_due_minor,
        Invoice.due_date,
        Invoice.status,
    )
    totals_query = scope.select(Invoice, Invoice.currency, Sum(Invoice.amount_due_minor), Count()).group_by(
        Invoice.currency
    )
    if status != "all":
        query = query.where(Invoice.status == status)
        totals_query = totals_query.where(Invoice.status == status)
    rows = await query.order_by(Invoice.due_date).order_by(Invoice.id).limit(limit)
    totals = await totals_query.order_by(Invoice.currency)
    return OutstandingOverview(
        rows=[
            OutstandingRow(
                id=str(row["id"]),
                number=row["number"],
                client_name=row["client.name"],
                source=row["source"],
                currency=row["currency"],
                amount_due=row["amount_due_minor"],
                due_date=row["due_date"],
                status=row["status"],
            )
            for row in rows
        ],
        totals=[CurrencyTotal(currency=row["currency"], amount_due=int(row["sum"] or 0)) for row in totals],
        total_count=sum(int(row["count"]) for row in totals),
    )
