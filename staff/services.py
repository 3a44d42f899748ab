"""Workspaces, staff accounts, sign-in and API tokens."""

from __future__ import annotations

import re
import uuid

from litestar.stores.base import Store

from core.clock import utcnow
from core.db import write_transaction
from core.errors import Invalid, NotAuthenticated, Throttled
from core.scope import WorkspaceScope
from core.security import hash_password, new_token, token_digest, verify_password
from core.store import RateLimiter
from core.tables import Workspace
from staff.schemas import StaffIdentity, WorkspaceCreated
from staff.tables import ApiToken, StaffUser

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+|[^@\s]+@localhost")
MIN_PASSWORD_LENGTH = 12
"""ASVS 2.1.1: at least 12 characters; no other composition rules (2.1.9), any length above (argon2id)."""


def valid_email(value: str) -> bool:
    """A plausible single email address; `fullmatch`, so no trailing newline slips into a header."""
    return bool(_EMAIL.fullmatch(value))


def normalise_email(email: str) -> str:
    """Emails compare case-insensitively and without surrounding spaces."""
    return email.strip().lower()


async def create_workspace(*, name: str, admin_email: str, admin_password: str) -> WorkspaceCreated:
    """A new firm with its first admin and an API token (returned once, stored hashed)."""
    errors: dict[str, str] = {}
    email = normalise_email(admin_email)
    if not name.strip():
        errors["name"] = "Give the workspace a name."
    if not valid_email(email):
        errors["admin_email"] = "Enter a valid email address."
    if len(admin_password) < MIN_PASSWORD_LENGTH:
        errors["admin_password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if not errors and await StaffUser.exists().where(StaffUser.email == email):
        errors["admin_email"] = "A staff account with this email already exists."
    if errors:
        raise Invalid("The workspace could not be created.", fields=errors)

    token = new_token("pt_")
    workspace = Workspace(name=name.strip())
    async with write_transaction():
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
        return StaffIdentity(
            staff_id=str(user.id),
            workspace_id=str(user.workspace),
            email=user.email,
            role=user.role,
            signed_in_at=utcnow().timestamp(),
        )


async def create_api_token(workspace_id: uuid.UUID, *, name: str) -> str:
    """A new API token for the workspace (returned once; only its digest is stored)."""
    token = new_token("pt_")
    await ApiToken(workspace=workspace_id, token_hash=token_digest(token), name=name).save()
    return token
