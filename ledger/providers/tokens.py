"""How a ledger client gets a valid access token without knowing about storage."""

from __future__ import annotations

from typing import Protocol


class TokenSource(Protocol):
    """Hands out the connection's current access token, refreshing it when needed."""

    async def access_token(self) -> str:
        """A token valid for at least a minute."""
        ...

    async def after_unauthorized(self, rejected: str) -> str:
        """The ledger rejected `rejected` early: refresh (once, across processes) and return the new token."""
        ...
