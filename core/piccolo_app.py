"""The single Piccolo app holding every table, so the schema has one migration history."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from core.tables import Activity, InstanceSetting, KeyValue, OutboxMessage, WebhookEvent, Workspace
from ledger.tables import Client, Invoice, InvoicePdf, LedgerConnection, LedgerGrant
from portal.tables import (
    Payment,
    PaymentAllocation,
    PaymentRequest,
    PaymentRequestInvoice,
    ReminderSent,
    ScheduledCollection,
)
from staff.tables import ApiToken, MessageTemplate, StaffUser

APP_CONFIG = AppConfig(
    app_name="portal",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[
        Workspace,
        InstanceSetting,
        KeyValue,
        WebhookEvent,
        Activity,
        OutboxMessage,
        MessageTemplate,
        StaffUser,
        ApiToken,
        LedgerGrant,
        LedgerConnection,
        Client,
        Invoice,
        InvoicePdf,
        PaymentRequest,
        PaymentRequestInvoice,
        Payment,
        PaymentAllocation,
        ScheduledCollection,
        ReminderSent,
    ],
)
