"""Connecting a ledger: start the consent, finish it on the callback, list, configure, disconnect."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import msgspec

from core.clock import as_utc, utcnow
from core.errors import Invalid
from core.scope import WorkspaceScope
from core.security import SecretBox
from core.settings import Settings
from ledger.grants import store_new_grant
from ledger.oauth import (
    PROVIDERS,
    GrantRevoked,
    authorization_url,
    exchange_code,
    new_code_verifier,
    new_state,
    provider_oauth,
    revoke,
    unverified_claims,
)
from ledger.schemas import ConnectionList, ConnectionOut, ConnectionStarted
from ledger.tables import LedgerConnection, LedgerGrant
from portal.tables import PaymentAllocation

CONSENT_LIFETIME = dt.timedelta(hours=1)
"""How long a started connection's `state` (and PKCE verifier) can complete a consent."""


class ConsentFailed(Exception):
    """The provider's callback did not complete a connection; the message is for the person."""


class Tenant(msgspec.Struct, frozen=True):
    """A Xero organisation or QuickBooks company authorised in a consent."""

    tenant_id: str
    name: str


async def start_connection(scope: WorkspaceScope, settings: Settings, provider: str) -> ConnectionStarted:
    """A pending connection whose consent URL carries a fresh state and PKCE challenge."""
    if provider not in PROVIDERS:
        raise Invalid("Unknown ledger.", fields={"provider": "Use xero or quickbooks."})
    oauth = provider_oauth(settings, provider)
    assert settings.secret_key
    state, verifier = new_state(), new_code_verifier()
    connection = LedgerConnection(
        workspace=scope.workspace_id,
        provider=provider,
        status="pending",
        oauth_state=state,
        pkce_verifier_enc=SecretBox(settings.secret_key).seal(verifier),
    )
    await connection.save()
    return ConnectionStarted(
        id=str(connection.id),
        provider=provider,
        status="pending",
        authorize_url=authorization_url(oauth, state=state, code_verifier=verifier),
    )


async def complete_connection(
    settings: Settings, http: httpx.AsyncClient, *, provider: str, params: dict[str, str]
) -> list[str]:
    """Finish a consent from the callback's query; returns the ids of the active connections.

    Raises ConsentFailed with a message fit to show the person.
    """
    state = params.get("state", "")
    pending = (
        await LedgerConnection.objects()
        .where((LedgerConnection.oauth_state == state) & (LedgerConnection.provider == provider))
        .first()
        if state
        else None
    )
    if pending is None or pending.status != "pending" or utcnow() - as_utc(pending.created_at) > CONSENT_LIFETIME:
        raise ConsentFailed("This connection link has expired or was already used. Start connecting again.")
    await LedgerConnection.update({LedgerConnection.oauth_state: None}).where(LedgerConnection.id == pending.id)
    if params.get("error"):
        await _fail(pending, "Access was not granted in the ledger.")
        raise ConsentFailed("The connection was cancelled in the ledger; nothing was connected.")
    assert settings.secret_key
    box = SecretBox(settings.secret_key)
    oauth = provider_oauth(settings, provider)
    try:
        tokens = await exchange_code(
            oauth, code=params.get("code", ""), code_verifier=box.open(pending.pkce_verifier_enc or "")
        )
    except GrantRevoked:
        await _fail(pending, "The ledger refused the authorization code.")
        raise ConsentFailed("The ledger did not accept this sign-in. Start connecting again.") from None
    if provider == "xero":
        tenants = await _xero_tenants(settings, http, tokens.access_token)
    else:
        realm = params.get("realmId", "")
        tenants = [Tenant(tenant_id=realm, name=f"QuickBooks company {realm}")] if realm else []
    if not tenants:
        await _fail(pending, "No organisation was chosen in the consent.")
        raise ConsentFailed("No organisation was chosen. Start connecting again and pick one.")
    grant = await store_new_grant(pending.workspace, provider, tokens, box)
    return await _activate(pending, grant, tenants)


async def _activate(pending: LedgerConnection, grant: LedgerGrant, tenants: list[Tenant]) -> list[str]:
    """The pending row becomes the first tenant's connection; a tenant connected before is re-activated."""
    ids: list[str] = []
    for index, tenant in enumerate(tenants):
        existing = (
            await LedgerConnection.objects()
            .where(
                (LedgerConnection.workspace == pending.workspace)
                & (LedgerConnection.provider == pending.provider)
                & (LedgerConnection.tenant_id == tenant.tenant_id)
            )
            .first()
        )
        values: dict[Any, Any] = {
            LedgerConnection.status: "active",
            LedgerConnection.grant: grant.id,
            LedgerConnection.tenant_name: tenant.name,
            LedgerConnection.last_error: None,
            LedgerConnection.pkce_verifier_enc: None,
        }
        if existing is not None:
            await LedgerConnection.update(values).where(LedgerConnection.id == existing.id)
            ids.append(str(existing.id))
        elif index == 0 and pending.tenant_id is None:
            values[LedgerConnection.tenant_id] = tenant.tenant_id
            await LedgerConnection.update(values).where(LedgerConnection.id == pending.id)
            ids.append(str(pending.id))
        else:
            connection = LedgerConnection(
                workspace=pending.workspace,
                provider=pending.provider,
                status="active",
                tenant_id=tenant.tenant_id,
                tenant_name=tenant.name,
                grant=grant.id,
            )
            await connection.save()
            ids.append(str(connection.id))
    if str(pending.id) not in ids:
        await LedgerConnection.delete().where(LedgerConnection.id == pending.id)
    return ids


async def _fail(pending: LedgerConnection, message: str) -> None:
    await LedgerConnection.update(
        {
            LedgerConnection.status: "failed",
            LedgerConnection.last_error: message,
            LedgerConnection.pkce_verifier_enc: None,
        }
    ).where(LedgerConnection.id == pending.id)


async def _xero_tenants(settings: Settings, http: httpx.AsyncClient, access_token: str) -> list[Tenant]:
    """Only the tenants authorised in this consent (`authEventId`), not every tenant the user ever connected."""
    params: dict[str, str] = {}
    auth_event = unverified_claims(access_token).get("authentication_event_id")
    if auth_event:
        params["authEventId"] = str(auth_event)
    response = await http.get(
        settings.xero_api_base.rstrip("/") + "/connections",
        params=params,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    response.raise_for_status()
    return [
        Tenant(tenant_id=str(item["tenantId"]), name=str(item.get("tenantName") or "Xero organisation"))
        for item in response.json()
        if item.get("tenantType", "ORGANISATION") == "ORGANISATION"
    ]


def _out(row: LedgerConnection) -> ConnectionOut:
    report = (
        row.import_report if isinstance(row.import_report, dict) else msgspec.json.decode(row.import_report or "{}")
    )
    return ConnectionOut(
        id=str(row.id),
        provider=row.provider,
        status=row.status,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name,
        last_synced_at=as_utc(row.last_synced_at) if row.last_synced_at else None,
        last_error=row.last_error,
        payment_account_code=row.payment_account_code,
        import_report=report,
    )


async def list_connections(scope: WorkspaceScope) -> ConnectionList:
    """Every connection of the workspace, newest first."""
    rows = await scope.objects(LedgerConnection).order_by(LedgerConnection.created_at, ascending=False)
    return ConnectionList(items=[_out(row) for row in rows])


async def set_payment_account(scope: WorkspaceScope, connection_id: str, account_code: str) -> ConnectionOut:
    """The ledger account collected payments are recorded against."""
    code = account_code.strip()
    if not code or len(code) > 32 or not code.isprintable():
        raise Invalid("Enter the ledger's account code.", fields={"payment_account_code": "1 to 32 characters."})
    row = await scope.get(LedgerConnection, connection_id, what="ledger connection")
    await LedgerConnection.update({LedgerConnection.payment_account_code: code}).where(LedgerConnection.id == row.id)
    await retry_refused_write_backs(row.id)
    row.payment_account_code = code
    return _out(row)


async def retry_refused_write_backs(connection_id: uuid.UUID) -> None:
    """Payments the ledger refused (e.g. for a bad account code) become due for write-back again."""
    refused = await PaymentAllocation.select(PaymentAllocation.id).where(
        PaymentAllocation.write_back_failed_at.is_not_null() & (PaymentAllocation.invoice.connection == connection_id)
    )
    if refused:
        await PaymentAllocation.update({PaymentAllocation.write_back_failed_at: None}).where(
            PaymentAllocation.id.is_in([row["id"] for row in refused])
        )


async def active_connection(scope: WorkspaceScope, connection_id: str) -> LedgerConnection:
    """A connection that can sync now."""
    row = await scope.get(LedgerConnection, connection_id, what="ledger connection")
    if row.status != "active":
        raise Invalid("This connection is not active.", fields={"status": f"It is {row.status}."})
    return row


async def disconnect(scope: WorkspaceScope, settings: Settings, connection_id: str) -> ConnectionOut:
    """Stop syncing; when no other connection uses the grant, revoke it at the provider."""
    row = await scope.get(LedgerConnection, connection_id, what="ledger connection")
    await LedgerConnection.update({LedgerConnection.status: "disconnected"}).where(LedgerConnection.id == row.id)
    row.status = "disconnected"
    if row.grant is not None:
        others = await LedgerConnection.count().where(
            (LedgerConnection.grant == row.grant) & (LedgerConnection.status == "active")
        )
        grant = await LedgerGrant.objects().where(LedgerGrant.id == row.grant).first()
        if not others and grant is not None and grant.revoked_at is None and settings.secret_key:
            await revoke(
                provider_oauth(settings, row.provider), SecretBox(settings.secret_key).open(grant.refresh_token_enc)
            )
            await LedgerGrant.update({LedgerGrant.revoked_at: utcnow()}).where(LedgerGrant.id == grant.id)
    return _out(row)
