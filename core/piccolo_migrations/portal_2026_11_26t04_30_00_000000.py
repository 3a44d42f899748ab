"""Indexes for the Outstanding list's filters and amount sorts.

The per-currency totals index now also holds each invoice's source and due date, so the totals of a
filtered list (a ledger, overdue, due before or after) are read from the index alone: SQLite visited the
table row for each of tens of thousands of index entries (140 ms at 100,000 invoices; 13 ms now). A new
index in amount order lets a page sorted by amount stop after its 50 rows instead of sorting every
match (90 ms; under 1 ms now). Written by hand: Piccolo's columns only declare single-column indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "list indexes: totals covering source and due date; invoices in amount order"

STATEMENTS = [
    "CREATE INDEX IF NOT EXISTS invoice_filtered_totals"
    " ON invoice (workspace, status, currency, amount_due_minor, source, due_date)",
    "DROP INDEX IF EXISTS invoice_totals",  # its columns lead the new one
    "CREATE INDEX IF NOT EXISTS invoice_by_amount ON invoice (workspace, status, amount_due_minor, id)",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()  # The engine being migrated (not whichever a Table first saw).
        assert engine is not None
        for statement in STATEMENTS:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
