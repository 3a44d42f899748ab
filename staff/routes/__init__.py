"""Staff HTML pages."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from staff.deps import provide_staff, provide_staff_scope, require_staff
from staff.routes.auth import login_form, login_submit, logout, root_redirect
from staff.routes.collections import clear_selection, collections_page, select_all, toggle_selection
from staff.routes.connections import (
    connect,
    connections_page,
    disconnect_connection,
    payment_account,
    sync,
)
from staff.routes.invoices import export_csv, invoice_page, invoice_pdf_for_staff, mark_paid, undo_paid
from staff.routes.outbox import outbox, outbox_attachment, outbox_message
from staff.routes.requests import copy_link, history, preview, request_panel, resend, revoke, send
from staff.routes.schedules import schedule_cancel, schedule_page, schedule_submit
from staff.routes.settings import (
    settings_page,
    settings_save,
    staff_invite,
    staff_remove,
    staff_role,
    template_create,
    template_delete,
    template_update,
)

_signed_in = Router(
    path="/staff",
    guards=[require_staff],
    dependencies={"staff": Provide(provide_staff), "workspace": Provide(provide_staff_scope)},
    route_handlers=[
        collections_page,
        schedule_page,
        schedule_submit,
        schedule_cancel,
        logout,
        invoice_page,
        invoice_pdf_for_staff,
        mark_paid,
        undo_paid,
        export_csv,
        outbox,
        outbox_message,
        outbox_attachment,
        copy_link,
        toggle_selection,
        select_all,
        clear_selection,
        request_panel,
        preview,
        send,
        history,
        revoke,
        resend,
        connections_page,
        connect,
        sync,
        payment_account,
        disconnect_connection,
        settings_page,
        settings_save,
        template_create,
        template_update,
        template_delete,
        staff_invite,
        staff_role,
        staff_remove,
    ],
    include_in_schema=False,
)

staff_router = Router(
    path="/",
    route_handlers=[root_redirect, login_form, login_submit, _signed_in],
    include_in_schema=False,
)
