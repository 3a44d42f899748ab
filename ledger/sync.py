"""Import sales invoices from a connection: first import, incremental changes, or named invoices."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import structlog

from core.clock import as_utc, utcnow
from core.db import custom_plans, write_transaction
from core.tables import Activity
from ledger.clients import LedgerContext, client_for
from ledger.http import LedgerError
from ledger.oauth import GrantRevoked, TokenEndpointError
from ledger.providers.base import ChangeBatch, LedgerInvoice
from ledger.tables import Client, Invoice, LedgerConnection

log = structlog.get_logger()

FIRST_IMPORT_DAYS = 90
MAX_SKIPPED_IN_REPORT = 50
_LEDGER_TO_STATUS = {"outstanding": "outstanding", "paid": "paid", "voided": "voided", "deleted": "voided"}


class SyncReport(msgspec.Struct):
    """What one sync did; kept on the connection as its import report."""

    imported: int = 0
    updated: int = 0
    closed: int = 0
    """Invoices that left Outstanding because the ledger says paid, voided or deleted."""
    drafts: int = 0
    """Draft invoices seen and not imported (a hint: they may need approving)."""
    skipped: list[dict[str, str]] = msgspec.field(default_factory=list)
    skipped_count: int = 0
    ledger_calls: int = 0


async def sync_connection(
    context: LedgerContext, connection_id: str, *, invoice_ids: list[str] | None = None
) -> SyncReport:
    """Bring our invoices in line with the ledger; `invoice_ids` limits it to named ones (webhooks).

    Raises LedgerError for faults worth retrying; a revoked grant marks the connection
    `reauthorization_required` and returns without raising, so the job does not loop.
    """
    connection = await LedgerConnection.objects().where(LedgerConnection.id == uuid.UUID(connection_id)).first()
    if connection is None or connection.status != "active":
        return SyncReport()
    report = SyncReport()
    since = _cursor(connection.sync_cursor)
    newest = since
    try:
        api = client_for(context, connection)
        if invoice_ids is not None:
            batches = [await api.invoices_by_id(invoice_ids)]
            newest = since  # A targeted sync does not move the incremental cursor.
            for batch in batches:
                await _apply(connection, batch, report)
        else:
            first_from = utcnow().date() - dt.timedelta(days=FIRST_IMPORT_DAYS)
            async for batch in api.changed_invoices(since, first_from):
                await _apply(connection, batch, report)
                seen = [inv.updated_at for inv in batch.invoices if inv.updated_at is not None]
                newest = max([*seen, *([newest] if newest else [])], default=None)
    except GrantRevoked:
        log.info("ledger_grant_revoked", connection_id=connection_id)
        return report
    except (LedgerError, TokenEndpointError) as exc:
        await LedgerConnection.update({LedgerConnection.last_error: str(exc)}).where(
            LedgerConnection.id == connection.id
        )
        raise
    report.ledger_calls = api.calls
    values: dict[Any, Any] = {
        LedgerConnection.last_synced_at: utcnow(),
        LedgerConnection.last_error: None,
        LedgerConnection.import_report: msgspec.json.encode(report).decode(),
    }
    if newest is not None:
        values[LedgerConnection.sync_cursor] = newest.isoformat()
    await LedgerConnection.update(values).where(LedgerConnection.id == connection.id)
    log.info("ledger_synced", connection_id=connection_id, imported=report.imported, updated=report.updated)
    return report


def _cursor(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


async def _apply(connection: LedgerConnection, batch: ChangeBatch, report: SyncReport) -> None:
    """Upsert one page of invoices and their clients in one transaction."""
    for skipped in batch.skipped:
        report.skipped_count += 1
        if len(report.skipped) < MAX_SKIPPED_IN_REPORT:
            report.skipped.append(
                {"external_id": skipped.external_id, "number": skipped.number, "reason": skipped.reason}
            )
    drafts = [inv for inv in batch.invoices if inv.status == "draft"]
    report.drafts += len(drafts)
    wanted = [inv for inv in batch.invoices if inv.status != "draft"]
    if not wanted:
        return
    async with write_transaction():
        await custom_plans()
        existing = await _existing_invoices(connection, wanted)
        # Only invoices we already hold, or that are unpaid now, are worth a row.
        relevant = [inv for inv in wanted if inv.external_id in existing or inv.status == "outstanding"]
        clients = await _upsert_clients(connection, [inv for inv in relevant if inv.contact_id])
        new_rows: list[Invoice] = []
        for inv in relevant:
            current = existing.get(inv.external_id)
            if current is None:
                new_rows.append(_new_invoice(connection, inv, clients[inv.contact_id]))
            elif await _update_invoice(connection, current, inv, clients.get(inv.contact_id)):
                report.updated += 1
                if current["status"] in ("outstanding", "processing") and inv.status != "outstanding":
                    report.closed += 1
        if new_rows:
            await Invoice.insert(*new_rows)
            await Activity.insert(
                *[
                    Activity(
                        workspace=connection.workspace,
                        invoice_id=str(row.id),
                        kind="imported",
                        detail=f"Imported from {connection.provider.capitalize()}",
                    )
                    for row in new_rows
                ]
            )
            report.imported += len(new_rows)


async def _existing_invoices(connection: LedgerConnection, invoices: list[LedgerInvoice]) -> dict[str, dict[str, Any]]:
    rows = await Invoice.select(
        Invoice.id, Invoice.external_id, Invoice.status, Invoice.ledger_updated_at, Invoice.amount_due_minor
    ).where(
        (Invoice.workspace == connection.workspace)
        & (Invoice.source == connection.provider)
        & Invoice.external_id.is_in([inv.external_id for inv in invoices])
    )
    return {row["external_id"]: row for row in rows}


async def _upsert_clients(connection: LedgerConnection, invoices: list[LedgerInvoice]) -> dict[str, uuid.UUID]:
    """Client ids by ledger contact id, creating or renaming clients as the ledger says."""
    latest = {inv.contact_id: inv for inv in invoices}
    if not latest:
        return {}
    where = (
        (Client.workspace == connection.workspace)
        & (Client.source == connection.provider)
        & Client.external_id.is_in(list(latest))
    )
    rows = await Client.select(Client.id, Client.external_id, Client.name, Client.email).where(where)
    known = {row["external_id"]: row for row in rows}
    missing = [
        Client(
            workspace=connection.workspace,
            source=connection.provider,
            external_id=contact_id,
            name=inv.contact_name,
            email=inv.contact_email,
        )
        for contact_id, inv in latest.items()
        if contact_id not in known
    ]
    if missing:
        await Client.insert(*missing)
    for contact_id, row in known.items():
        inv = latest[contact_id]
        if (row["name"], row["email"]) != (inv.contact_name, inv.contact_email):
            await Client.update({Client.name: inv.contact_name, Client.email: inv.contact_email}).where(
                Client.id == row["id"]
            )
    ids = {row["external_id"]: row["id"] for row in rows}
    ids.update({client.external_id: client.id for client in missing})
    return ids


def _new_invoice(connection: LedgerConnection, inv: LedgerInvoice, client_id: uuid.UUID) -> Invoice:
    return Invoice(
        workspace=connection.workspace,
        connection=connection.id,
        client=client_id,
        source=connection.provider,
        external_id=inv.external_id,
        number=inv.number,
        reference=inv.reference,
        currency=inv.currency,
        total_minor=inv.total_minor,
        amount_paid_minor=inv.amount_paid_minor,
        amount_due_minor=inv.amount_due_minor,
        issue_date=inv.issue_date,
        due_date=inv.due_date,
        status=_LEDGER_TO_STATUS[inv.status],
        ledger_status=inv.ledger_status,
        ledger_updated_at=inv.updated_at,
    )


async def _update_invoice(
    connection: LedgerConnection, current: dict[str, Any], inv: LedgerInvoice, client_id: uuid.UUID | None
) -> bool:
    """Apply the ledger's view (False when nothing changed); a payment in flight stays `processing`."""
    seen = current["ledger_updated_at"]
    if inv.updated_at is not None and seen is not None and as_utc(seen) == inv.updated_at:
        return False  # The same version again (If-Modified-Since includes its boundary second).
    status = _LEDGER_TO_STATUS[inv.status]
    if current["status"] == "processing" and status == "outstanding":
        status = "processing"
    if inv.status == "deleted":
        values: dict[Any, Any] = {Invoice.status: "voided", Invoice.ledger_status: "DELETED"}
    else:
        values = {
            Invoice.number: inv.number,
            Invoice.reference: inv.reference,
            Invoice.currency: inv.currency,
            Invoice.total_minor: inv.total_minor,
            Invoice.amount_paid_minor: inv.amount_paid_minor,
            Invoice.amount_due_minor: inv.amount_due_minor,
            Invoice.issue_date: inv.issue_date,
            Invoice.due_date: inv.due_date,
            Invoice.status: status,
            Invoice.ledger_status: inv.ledger_status,
            Invoice.ledger_updated_at: inv.updated_at,
            Invoice.updated_at: utcnow(),
        }
        if client_id is not None:
            values[Invoice.client] = client_id
    await Invoice.update(values).where(Invoice.id == current["id"])
    if status != current["status"]:
        await Activity.insert(
            Activity(
                workspace=connection.workspace,
                invoice_id=str(current["id"]),
                kind=f"ledger_{status}",
                detail=f"The ledger now shows this invoice as {inv.ledger_status.lower() or status}.",
            )
        )
    return True
