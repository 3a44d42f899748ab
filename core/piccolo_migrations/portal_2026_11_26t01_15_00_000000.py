"""Indexes for the Outstanding list's search: invoices by client, and trigram indexes on PostgreSQL.

A search is a case-insensitive substring match on invoice number, reference and client name. On
PostgreSQL, pg_trgm's GIN indexes answer `ILIKE '%text%'` without reading every invoice; the extension
ships with PostgreSQL (contrib) and is trusted, so the database owner may create it. Where it is missing
or may not be created, the indexes are skipped and searches read the workspace's invoices instead.
"""

import logging

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-11-26T01:15:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "search indexes: invoice client; pg_trgm on number, reference and client name"

TRIGRAM_INDEXES = [
    "CREATE INDEX IF NOT EXISTS invoice_number_trgm ON invoice USING gin (number gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS invoice_reference_trgm ON invoice USING gin (reference gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS client_name_trgm ON client USING gin (name gin_trgm_ops)",
]
CAN_CREATE_TRIGRAMS = (
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')"
    " OR (EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm')"
    " AND has_database_privilege(current_user, current_database(), 'CREATE')) AS ok"
)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create_indexes() -> None:
        engine = engine_finder()  # The engine being migrated (not whichever a Table first saw).
        assert engine is not None
        await engine.run_ddl("CREATE INDEX IF NOT EXISTS invoice_client ON invoice (client)")
        if not isinstance(engine, PostgresEngine):
            return
        [row] = await engine.run_ddl(CAN_CREATE_TRIGRAMS)
        if not row["ok"]:
            logging.getLogger(__name__).warning("pg_trgm unavailable: Outstanding list searches will scan")
            return
        await engine.run_ddl("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        for statement in TRIGRAM_INDEXES:
            await engine.run_ddl(statement)

    manager.add_raw(create_indexes)
    return manager
