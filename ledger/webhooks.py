"""Ledger webhooks: verify the signature on the raw body, then name the invoices to re-sync."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import msgspec

from core.errors import BadRequest, NotAuthenticated
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


class _XeroEvent(msgspec.Struct, rename="camel"):
    tenant_id: str = ""
    event_category: str = ""
    resource_id: str = ""


class _XeroDelivery(msgspec.Struct):
    events: list[_XeroEvent] = msgspec.field(default_factory=list)


class _QuickBooksEntity(msgspec.Struct):
    name: str = ""
    id: str = ""


class _QuickBooksChange(msgspec.Struct):
    entities: list[_QuickBooksEntity] = msgspec.field(default_factory=list)


class _QuickBooksNotification(msgspec.Struct, rename="camel"):
    realm_id: str = ""
    data_change_event: _QuickBooksChange | None = None


class _QuickBooksClassic(msgspec.Struct, rename="camel"):
    event_notifications: list[_QuickBooksNotification] = msgspec.field(default_factory=list)


class _QuickBooksCloudEvent(msgspec.Struct):
    type: str = ""
    intuitentityid: str = ""
    intuitaccountid: str = ""


def _decode(body: bytes, shape: Any) -> Any:
    """A signed delivery in the provider's shape (empty means none); anything else is a 400, not recorded."""
    try:
        return msgspec.json.decode(body or b"{}", type=shape)
    except msgspec.DecodeError:
        raise BadRequest("The webhook body is not a delivery of this provider.") from None


def _grouped(pairs: list[tuple[str, str]]) -> list[InvoiceChanges]:
    grouped: dict[str, set[str]] = {}
    for tenant, invoice_id in pairs:
        grouped.setdefault(tenant, set()).add(invoice_id)
    return [InvoiceChanges(tenant_id=tenant, invoice_ids=sorted(ids)) for tenant, ids in grouped.items()]


def xero_changes(body: bytes) -> list[InvoiceChanges]:
    """Invoice events of a Xero delivery grouped by tenant (an empty `events` list is the intent-to-receive check)."""
    delivery: _XeroDelivery = _decode(body, _XeroDelivery)
    return _grouped(
        [
            (event.tenant_id, event.resource_id)
            for event in delivery.events
            if event.event_category.upper() == "INVOICE" and event.resource_id
        ]
    )


def quickbooks_changes(body: bytes) -> list[InvoiceChanges]:
    """Invoice changes from either QuickBooks payload: classic `eventNotifications` or CloudEvents (a list)."""
    payload: _QuickBooksClassic | list[_QuickBooksCloudEvent] = _decode(
        body, _QuickBooksClassic | list[_QuickBooksCloudEvent]
    )
    if isinstance(payload, list):  # CloudEvents: type "qbo.invoice.updated.v1", realm in intuitaccountid.
        return _grouped(
            [
                (event.intuitaccountid, event.intuitentityid)
                for event in payload
                if event.type.startswith("qbo.invoice.") and event.intuitentityid
            ]
        )
    return _grouped(
        [
            (notification.realm_id, entity.id)
            for notification in payload.event_notifications
            for entity in (notification.data_change_event.entities if notification.data_change_event else [])
            if entity.name == "Invoice" and entity.id
        ]
    )


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
