from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey

ID = "2026-11-25T22:21:58:217125"
VERSION = "1.38.0"
DESCRIPTION = "index payment_request_invoice.invoice (each list row looks up its last request)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="portal", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="PaymentRequestInvoice",
        tablename="payment_request_invoice",
        column_name="invoice",
        db_column_name="invoice",
        params={"index": True},
        old_params={"index": False},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )

    return manager
