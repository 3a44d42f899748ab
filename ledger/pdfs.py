"""Invoice copies: the ledger's own PDF, cached per ledger version, bytes unchanged."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger.clients import LedgerContext, client_for
from ledger.tables import Invoice, InvoicePdf, LedgerConnection

FETCH_BATCH = 5
"""Ledger downloads at once: the ledger's per-tenant limit is 5 concurrent calls."""


class PdfUnavailable(Exception):
    """The ledger could not provide the PDF right now."""


async def invoice_pdf(context: LedgerContext, invoice_id: uuid.UUID) -> tuple[str, bytes]:
    """`(filename, bytes)` of an invoice's PDF; fetched from the ledger when the cached one is stale."""
    [copy] = await invoice_pdfs(context, [invoice_id])
    return copy


@dataclass(frozen=True)
class CachedCopies:
    """What the cache holds for some invoices: copies of the current version, and the invoices to fetch."""

    order: list[uuid.UUID]
    invoices: dict[uuid.UUID, dict[str, Any]]
    current: dict[uuid.UUID, bytes]
    outdated: dict[uuid.UUID, bytes]
    """Copies of an older version (kept for an invoice whose ledger connection is gone)."""

    @property
    def stale(self) -> list[dict[str, Any]]:
        """Invoices with no copy of their current version."""
        return [self.invoices[invoice_id] for invoice_id in dict.fromkeys(self.order) if invoice_id not in self.current]


async def invoice_pdfs(context: LedgerContext, invoice_ids: Sequence[uuid.UUID]) -> list[tuple[str, bytes]]:
    """`(filename, bytes)` per invoice, in the order given, each named `<invoice number>.pdf`.

    Cached copies of the current ledger version are read in two queries; stale or missing ones are
    fetched from the ledger a few at a time and cached. Callers check workspace access first.
    """
    return await complete_copies(context, await cached_copies(invoice_ids))


async def cached_copies(invoice_ids: Sequence[uuid.UUID]) -> CachedCopies:
    """Read what the cache holds (two queries, no ledger call, so it may run inside a read transaction)."""
    wanted = list(dict.fromkeys(invoice_ids))
    invoices = {
        row["id"]: row
        for row in await Invoice.select(
            Invoice.id,
            Invoice.number,
            Invoice.external_id,
            Invoice.connection,
            Invoice.ledger_updated_at,
            Invoice.ledger_status,
        ).where(Invoice.id.is_in(wanted))
    }
    assert len(invoices) == len(wanted), "callers check workspace access first"
    current: dict[uuid.UUID, bytes] = {}
    outdated: dict[uuid.UUID, bytes] = {}
    for row in await InvoicePdf.select(InvoicePdf.invoice, InvoicePdf.version, InvoicePdf.content).where(
        InvoicePdf.invoice.is_in(wanted)
    ):
        fresh = row["version"] == _version(invoices[row["invoice"]])
        (current if fresh else outdated)[row["invoice"]] = bytes(row["content"])
    return CachedCopies(list(invoice_ids), invoices, current, outdated)


async def complete_copies(context: LedgerContext, copies: CachedCopies) -> list[tuple[str, bytes]]:
    """Every copy, the stale ones fetched from the ledger and cached; a failure stops at its batch (callers retry)."""
    contents = dict(copies.current)
    stale = copies.stale
    if stale:
        connection_ids = list({row["connection"] for row in stale if row["connection"] is not None})
        connections = {
            connection.id: connection
            for connection in (
                await LedgerConnection.objects().where(LedgerConnection.id.is_in(connection_ids))
                if connection_ids
                else []
            )
        }
        for start in range(0, len(stale), FETCH_BATCH):
            batch = stale[start : start + FETCH_BATCH]
            fetched = await asyncio.gather(
                *(
                    _fetch(context, row, connections.get(row["connection"]), copies.outdated.get(row["id"]))
                    for row in batch
                )
            )
            contents.update(zip((row["id"] for row in batch), fetched, strict=True))
    return [(f"{copies.invoices[invoice_id]['number']}.pdf", contents[invoice_id]) for invoice_id in copies.order]


def _version(invoice: dict[str, Any]) -> str:
    updated = invoice["ledger_updated_at"]
    return str(updated.isoformat() if updated else invoice["ledger_status"])


async def _fetch(
    context: LedgerContext,
    invoice: dict[str, Any],
    connection: LedgerConnection | None,
    outdated: bytes | None,
) -> bytes:
    """The ledger's current copy, cached; an invoice without a connection keeps its old copy if any."""
    if connection is None:
        if outdated is not None:
            return outdated
        raise PdfUnavailable("this invoice has no ledger connection")
    content = await client_for(context, connection).invoice_pdf(invoice["external_id"])
    await InvoicePdf.insert(InvoicePdf(invoice=invoice["id"], version=_version(invoice), content=content)).on_conflict(
        target=InvoicePdf.invoice,
        action="DO UPDATE",
        values=[InvoicePdf.version, InvoicePdf.content, InvoicePdf.fetched_at],
    )
    return content
