"""Build the right ledger client for a connection."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from core.security import SecretBox
from core.settings import Settings
from ledger.grants import GrantTokens
from ledger.http import LedgerHttp
from ledger.oauth import GrantRevoked, provider_oauth
from ledger.providers.quickbooks import QuickBooksClient
from ledger.providers.xero import XeroClient
from ledger.tables import LedgerConnection

LedgerApi = XeroClient | QuickBooksClient


@dataclass
class LedgerContext:
    """What ledger services need from the process: settings, the shared HTTP client, the secret box."""

    settings: Settings
    http: LedgerHttp
    box: SecretBox

    @classmethod
    def create(cls, settings: Settings, client: httpx.AsyncClient) -> LedgerContext:
        """One per process (app or worker)."""
        assert settings.secret_key, "settings must carry the resolved secret key"
        return cls(settings=settings, http=LedgerHttp(client), box=SecretBox(settings.secret_key))


def client_for(context: LedgerContext, connection: LedgerConnection) -> LedgerApi:
    """The API client of an active connection."""
    if connection.grant is None or not connection.tenant_id:
        raise GrantRevoked("connection has no grant")
    tokens = GrantTokens(connection.grant, provider_oauth(context.settings, connection.provider), context.box)
    if connection.provider == "xero":
        return XeroClient(
            context.http, api_base=context.settings.xero_api_base, tenant_id=connection.tenant_id, tokens=tokens
        )
    return QuickBooksClient(
        context.http, api_base=context.settings.quickbooks_api_base, realm_id=connection.tenant_id, tokens=tokens
    )
