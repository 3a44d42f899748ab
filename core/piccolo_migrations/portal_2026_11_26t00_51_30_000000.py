"""Payments that succeeded before receipts were tracked count as receipted.

Raw steps run before a migration's column changes, hence a migration of its own after the one adding
`receipt_sent_at`. Without it the receipt sweep would email every earlier payer again.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-26T00:51:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "earlier payments count as receipted"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def receipts_already_sent() -> None:
        engine = engine_finder()  # The engine being migrated (not whichever a Table first saw).
        assert engine is not None
        await engine.run_ddl(
            "UPDATE payment SET receipt_sent_at = succeeded_at WHERE status = 'succeeded' AND receipt_sent_at IS NULL"
        )

    manager.add_raw(receipts_already_sent)
    return manager
