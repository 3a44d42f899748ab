"""Ledger webhooks: verify the signature on the raw body, then name the invoices to re-sync."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

from core.errors import NotAuthenticated
from core.tables import WebhookEvent
from ledger.tables import LedgerConnection


class InvoiceChanges(msgspec.Struct, frozen=True):
    """Invoices one tenant says changed."""

    tenant_id: str
    invoice_ids: list[str]


def verify_signature(secret: str | None, body: bytes, signature: str | None) -> None:
    """Base64 HMAC-SHA256 of the raw body; a missing secret refuses every call rather than trusting it."""
    if not secret:
        raise NotAuthenticated("Webhook verification is not configured.")
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    if not signature or not hmac.compare_digest(expected, signature.strip()):
        raise NotAuthenticated("Invalid webhook signature.")


def xero_changes(body: bytes) -> list[InvoiceChanges]:
    """Invoice events of a Xero delivery grouped by tenant (an empty `events` list is the intent-to-receive check)."""
    payload: dict[str, Any] = msgspec.json.decode(body) if body else {}
    grouped: dict[str, list[str]] = {}
    for event in payload.get("events") or []:
        if str(event.get("eventCategory", "")).upper() == "INVOICE" and event.get("resourceId"):
            grouped.setdefault(str(event["tenantId"]), []).append(str(event["resourceId"]))
    return [InvoiceChanges(tenant_id=tenant, invoice_ids=sorted(set(ids))) for tenant, ids in grouped.items()]


def quickbooks_changes(body: bytes) -> list[InvoiceChanges]:
    """Invoice changes from either QuickBooks payload: classic `eventNotifications` or CloudEvents (a list)."""
    payload: Any = msgspec.json.decode(body) if body else {}
    grouped: dict[str, list[str]] = {}
    if isinstance(payload, list):  # CloudEvents: type "qbo.invoice.updated.v1", realm in intuitaccountid.
        for event in payload:
            if str(event.get("type", "")).startswith("qbo.invoice.") and event.get("intuitentityid"):
                grouped.setdefault(str(event.get("intuitaccountid")), []).append(str(event["intuitentityid"]))
    else:
        for notification in payload.get("eventNotifications") or []:
            entities = (notification.get("dataChangeEvent") or {}).get("entities") or []
            for entity in entities:
                if entity.get("name") == "Invoice" and entity.get("id"):
                    grouped.setdefault(str(notification.get("realmId")), []).append(str(entity["id"]))
    return [InvoiceChanges(tenant_id=tenant, invoice_ids=sorted(set(ids))) for tenant, ids in grouped.items()]


async def first_delivery(provider: str, body: bytes) -> bool:
    """Record the delivery by content digest; False when the same delivery came before."""
    digest = hashlib.sha256(body).hexdigest()
    inserted = (
        await WebhookEvent.insert(WebhookEvent(provider=provider, event_id=digest))
        .on_conflict(target=(WebhookEvent.provider, WebhookEvent.event_id), action="DO NOTHING")
        .returning(WebhookEvent.id)
    )
    return bool(inserted)


async def connections_for(provider: str, tenant_id: str) -> list[str]:
    """Active connections (in any workspace) of a tenant."""
    rows = await LedgerConnection.select(LedgerConnection.id).where(
        (LedgerConnection.provider == provider)
        & (LedgerConnection.tenant_id == tenant_id)
        & (LedgerConnection.status == "active")
    )
    return [str(row["id"]) for row in rows]
