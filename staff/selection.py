"""The staff member's invoice selection, kept in the session so it survives paging and filtering."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from core.db import uuid_in
from core.scope import WorkspaceScope
from ledger.schemas import CurrencyTotal, InvoiceListQuery
from ledger.services import matching_invoice_ids
from ledger.tables import Invoice
from staff.request_schemas import MAX_INVOICES

SESSION_KEY = "selection"


class SelectionSummary:
    """What the selection bar shows."""

    def __init__(self, count: int, totals: list[CurrencyTotal], capped: bool = False) -> None:
        self.count = count
        self.totals = totals
        self.capped = capped


def selected_ids(session: dict[str, Any]) -> list[str]:
    """The selected invoice ids, in selection order."""
    value = session.get(SESSION_KEY)
    return list(value) if isinstance(value, list) else []


def toggle(session: dict[str, Any], invoice_ids: list[str], *, selected: bool) -> None:
    """Add or remove invoices from the selection."""
    current = dict.fromkeys(selected_ids(session))
    for invoice_id in invoice_ids:
        if selected:
            current[invoice_id] = None
        else:
            current.pop(invoice_id, None)
    session[SESSION_KEY] = list(current)[:MAX_INVOICES]


def clear(session: dict[str, Any]) -> None:
    """Select nothing."""
    session[SESSION_KEY] = []


async def select_all_matching(session: dict[str, Any], scope: WorkspaceScope, query: InvoiceListQuery) -> bool:
    """Select every invoice the filters match (ids only, never rows); False when capped at the maximum."""
    ids = await matching_invoice_ids(scope, query, limit=MAX_INVOICES + 1)
    toggle(session, [str(invoice_id) for invoice_id in ids[:MAX_INVOICES]], selected=True)
    return len(ids) <= MAX_INVOICES


async def summary(session: dict[str, Any], scope: WorkspaceScope) -> SelectionSummary:
    """Count and per-currency totals of the selected invoices that are still outstanding."""
    ids = []
    for raw in selected_ids(session):
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    if not ids:
        return SelectionSummary(0, [])
    totals: dict[str, int] = defaultdict(int)
    count = 0
    # One query: on SQLite each query walks the workspace's outstanding invoices in the listing index,
    # so chunks of a thousand ids cost five walks.
    rows = await scope.select(Invoice, Invoice.currency, Invoice.amount_due_minor).where(
        uuid_in(Invoice.id, ids[:MAX_INVOICES]) & (Invoice.status == "outstanding")
    )
    for row in rows:
        totals[row["currency"]] += row["amount_due_minor"]
        count += 1
    return SelectionSummary(
        count, [CurrencyTotal(currency=c, amount_due=a) for c, a in sorted(totals.items())], len(ids) >= MAX_INVOICES
    )
