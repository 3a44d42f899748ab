"""Access tokens of a ledger grant: refreshed at most once at a time across every process.

Refresh tokens rotate, so two processes refreshing together would spend the same token
and one would be locked out. A short lease taken with a conditional UPDATE (portable to
SQLite and PostgreSQL, and no transaction held open across the HTTP call) makes exactly
one process refresh; the others wait for the new token version and use it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from core.clock import as_utc, utcnow
from core.security import SecretBox
from ledger.oauth import GrantRevoked, ProviderOAuth, TokenEndpointError, TokenSet, refresh
from ledger.tables import LedgerConnection, LedgerGrant

EARLY_REFRESH = dt.timedelta(seconds=60)
LEASE = dt.timedelta(seconds=30)
WAIT_FOR_OTHER_REFRESH = 45.0
POLL_SECONDS = 0.1

REAUTHORIZE_MESSAGE = "The ledger no longer accepts our access. Connect it again to resume syncing."


async def store_new_grant(workspace_id: uuid.UUID, provider: str, tokens: TokenSet, box: SecretBox) -> LedgerGrant:
    """Keep the tokens of a fresh consent, encrypted."""
    grant = LedgerGrant(
        workspace=workspace_id,
        provider=provider,
        access_token_enc=box.seal(tokens.access_token),
        refresh_token_enc=box.seal(tokens.refresh_token),
        access_token_expires_at=tokens.expires_at,
    )
    await grant.save()
    return grant


async def mark_reauthorization_required(grant_id: uuid.UUID) -> None:
    """Every connection of the grant stops syncing until staff connect again; no retry loop."""
    await LedgerGrant.update({LedgerGrant.revoked_at: utcnow(), LedgerGrant.refresh_lease_until: None}).where(
        LedgerGrant.id == grant_id
    )
    await LedgerConnection.update(
        {LedgerConnection.status: "reauthorization_required", LedgerConnection.last_error: REAUTHORIZE_MESSAGE}
    ).where(LedgerConnection.grant == grant_id)


class GrantTokens:
    """The `TokenSource` of one grant."""

    def __init__(self, grant_id: uuid.UUID, oauth: ProviderOAuth, box: SecretBox) -> None:
        self.grant_id = grant_id
        self.oauth = oauth
        self.box = box

    async def _row(self) -> LedgerGrant:
        grant = await LedgerGrant.objects().where(LedgerGrant.id == self.grant_id).first()
        if grant is None or grant.revoked_at is not None:
            raise GrantRevoked("grant revoked")
        return grant

    async def access_token(self) -> str:
        """The current access token, refreshed first when it is about to expire."""
        grant = await self._row()
        if as_utc(grant.access_token_expires_at) - EARLY_REFRESH > utcnow():
            return self.box.open(grant.access_token_enc)
        return await self._refresh(grant.token_version)

    async def after_unauthorized(self, rejected: str) -> str:
        """The ledger rejected `rejected`: use a newer token if another process got one, else refresh."""
        grant = await self._row()
        current = self.box.open(grant.access_token_enc)
        if current != rejected:
            return current
        return await self._refresh(grant.token_version)

    async def _refresh(self, seen_version: int) -> str:
        deadline = asyncio.get_running_loop().time() + WAIT_FOR_OTHER_REFRESH
        while True:
            now = utcnow()
            taken = (
                await LedgerGrant.update({LedgerGrant.refresh_lease_until: now + LEASE})
                .where(
                    (LedgerGrant.id == self.grant_id)
                    & (LedgerGrant.token_version == seen_version)
                    & LedgerGrant.revoked_at.is_null()
                    & (LedgerGrant.refresh_lease_until.is_null() | (LedgerGrant.refresh_lease_until < now))
                )
                .returning(LedgerGrant.id)
            )
            if taken:
                return await self._refresh_holding_lease(seen_version)
            grant = await self._row()
            if grant.token_version != seen_version:
                return self.box.open(grant.access_token_enc)
            if asyncio.get_running_loop().time() > deadline:
                raise TokenEndpointError("timed out waiting for another process to refresh the token")
            await asyncio.sleep(POLL_SECONDS)

    async def _refresh_holding_lease(self, seen_version: int) -> str:
        grant = await self._row()
        try:
            tokens = await refresh(self.oauth, self.box.open(grant.refresh_token_enc))
        except GrantRevoked:
            await mark_reauthorization_required(self.grant_id)
            raise
        except BaseException:
            await LedgerGrant.update({LedgerGrant.refresh_lease_until: None}).where(LedgerGrant.id == self.grant_id)
            raise
        await LedgerGrant.update(
            {
                LedgerGrant.access_token_enc: self.box.seal(tokens.access_token),
                LedgerGrant.refresh_token_enc: self.box.seal(tokens.refresh_token),
                LedgerGrant.access_token_expires_at: tokens.expires_at,
                LedgerGrant.token_version: seen_version + 1,
                LedgerGrant.refresh_lease_until: None,
            }
        ).where(LedgerGrant.id == self.grant_id)
        return tokens.access_token
