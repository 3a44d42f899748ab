"""Composite unique indexes that make imports, webhooks and payments idempotent.

Piccolo's `Unique` constraint is added with ALTER TABLE, which SQLite cannot do,
so the same guarantee is given by unique indexes, valid on both databases.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-25T23:59:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"

STATEMENTS = [
    "CREATE UNIQUE INDEX IF NOT EXISTS webhook_event_provider_event_id ON webhook_event (provider, event_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_connection_tenant ON ledger_connection (workspace, provider, tenant_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS client_external ON client (workspace, source, external_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS invoice_external ON invoice (workspace, source, external_id)",
    "CREATE INDEX IF NOT EXISTS invoice_listing ON invoice (workspace, status, due_date, id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS payment_request_invoice_pair ON payment_request_invoice (request, invoice)",
    "CREATE UNIQUE INDEX IF NOT EXISTS payment_allocation_pair ON payment_allocation (payment, invoice)",
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
