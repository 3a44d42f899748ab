"""Unique indexes that keep collections and reminders exactly-once.

A partial unique index allows one active (scheduled or processing) collection per invoice while
keeping the history of finished ones; both SQLite and PostgreSQL support `WHERE` on an index.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T23:59:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "one active collection per invoice; one reminder per invoice and step"

STATEMENTS = [
    "CREATE UNIQUE INDEX IF NOT EXISTS scheduled_collection_active ON scheduled_collection (invoice)"
    " WHERE status IN ('scheduled', 'processing')",
    "CREATE INDEX IF NOT EXISTS scheduled_collection_due ON scheduled_collection (status, collect_on)",
    "CREATE UNIQUE INDEX IF NOT EXISTS reminder_sent_step ON reminder_sent (invoice, offset_days)",
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
