"""A covering index for the Outstanding list's per-currency totals.

Every list page sums amount due per currency over the whole filter (80,000 rows for a
100,000-invoice workspace); with this index both databases read the sum from the index
alone instead of visiting every invoice row. Written by hand, like the unique indexes,
because Piccolo's columns only declare single-column indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "covering index for list totals"

STATEMENTS = [
    "CREATE INDEX IF NOT EXISTS invoice_totals ON invoice (workspace, status, currency, amount_due_minor)",
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
