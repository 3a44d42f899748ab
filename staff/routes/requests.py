"""Request payment: the panel (settings, subject, message), preview, send, and the history page."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Literal, cast

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import Invalid
from core.scope import WorkspaceScope
from portal.links import link_url
from portal.tables import PaymentRequest
from staff import selection
from staff.payment_requests import (
    fresh_link_for_staff,
    link_lifetime_days,
    preview_requests,
    request_history,
    resend_request,
    revoke_request,
    select_invoices,
    send_requests,
)
from staff.request_emails import DEFAULT_MESSAGE, DEFAULT_SUBJECT, PLACEHOLDERS
from staff.request_schemas import PaymentRequestCreate, PaymentSettings
from staff.schemas import StaffIdentity
from staff.settings import template_for, templates_for


class RequestForm(msgspec.Struct, kw_only=True):
    """The request panel's fields."""

    invoice_ids: list[str] = msgspec.field(default_factory=list)
    subject: str = ""
    message: str = ""
    card: str = ""
    bank_debit: str = ""
    save_payment_method: str = "optional"
    skip_clients_without_email: str = ""

    def to_create(self, mode: str) -> PaymentRequestCreate:
        """The API shape of this form."""
        choice = self.save_payment_method if self.save_payment_method in ("optional", "required", "off") else "optional"
        save = cast(Literal["optional", "required", "off"], choice)
        return PaymentRequestCreate(
            invoice_ids=self.invoice_ids,
            mode="send" if mode == "send" else "preview",
            subject=self.subject or None,
            message=self.message or None,
            settings=PaymentSettings(
                card=bool(self.card) or not self.bank_debit, bank_debit=bool(self.bank_debit), save_payment_method=save
            ),
            skip_clients_without_email=bool(self.skip_clients_without_email),
        )


def _panel(
    staff: StaffIdentity,
    form: RequestForm,
    *,
    summary: Any,
    error: dict[str, str] | None = None,
    preview: Any = None,
    templates: Any = (),
    single: str | None = None,
) -> Template:
    return Template(
        "staff/request_panel.html",
        context={
            "staff": staff,
            "form": form,
            "summary": summary,
            "errors": error or {},
            "preview": preview,
            "placeholders": PLACEHOLDERS,
            "templates": templates,
            "single": single,
        },
        status_code=422 if error else 200,
    )


@get("/requests/new")
async def request_panel(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    invoice_id: FromQuery[str | None] = None,
    template: FromQuery[str | None] = None,
) -> Template:
    """The panel for the selection, or for one invoice from its ⋯ menu; `template` starts from a saved text."""
    ids = [invoice_id] if invoice_id else selection.selected_ids(request.session)
    subject, message = DEFAULT_SUBJECT, DEFAULT_MESSAGE
    if template:
        saved = await template_for(workspace, template)
        subject, message = saved.subject, saved.body
    form = RequestForm(invoice_ids=ids, subject=subject, message=message, card="1")
    templates = await templates_for(workspace)
    try:
        summary = await select_invoices(workspace, form.to_create("preview"))
    except Invalid as exc:
        return _panel(staff, form, summary=None, error={"invoice_ids": exc.message}, templates=templates)
    return _panel(staff, form, summary=summary, templates=templates, single=invoice_id)


@post("/requests/preview")
async def preview(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    data: Annotated[RequestForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    """Exactly the emails that would go out, one per client."""
    try:
        summary = await select_invoices(workspace, data.to_create("preview"))
        emails = await preview_requests(workspace, state.ledger, state.settings.base_url, data.to_create("preview"))
    except Invalid as exc:
        return _panel(staff, data, summary=None, error=exc.fields or {"invoice_ids": exc.message})
    return _panel(staff, data, summary=summary, preview=emails)


@post("/requests/send")
async def send(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    data: Annotated[RequestForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    """Queue the emails and go to the history page."""
    try:
        sent = await send_requests(
            workspace,
            state.queue,
            data.to_create("send"),
            lifetime_days=await link_lifetime_days(workspace),
            created_by=staff.email,
        )
    except Invalid as exc:
        summary = None
        with contextlib.suppress(Invalid):
            summary = await select_invoices(workspace, data.to_create("preview"))
        return _panel(staff, data, summary=summary, error={**exc.fields, "_": exc.message})
    selection.clear(request.session)
    return Redirect(f"/staff/requests?batch={sent.batch_id}", status_code=303)


@get("/requests")
async def history(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    batch: FromQuery[str | None] = None,
) -> Template:
    """Payment requests, newest first, with delivery status."""
    rows = await request_history(workspace, batch_id=batch)
    return Template("staff/requests.html", context={"staff": staff, "rows": rows, "batch": batch})


@post("/requests/{request_id:str}/revoke")
async def revoke(workspace: NamedDependency[WorkspaceScope], request_id: FromPath[str]) -> Redirect:
    """Kill the link."""
    await revoke_request(workspace, request_id)
    return Redirect("/staff/requests", status_code=303)


@post("/requests/{request_id:str}/resend")
async def resend(workspace: NamedDependency[WorkspaceScope], state: State, request_id: FromPath[str]) -> Redirect:
    """Email a fresh link (the old one stops working)."""
    row = await workspace.get(PaymentRequest, request_id, what="payment request")
    await resend_request(state.queue, row.id, lifetime_days=await link_lifetime_days(workspace))
    return Redirect("/staff/requests", status_code=303)


@post("/requests/{request_id:str}/link")
async def copy_link(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    request_id: FromPath[str],
) -> Template:
    """Make a fresh client link and show it once, to paste into a message of the firm's own."""
    token = await fresh_link_for_staff(
        workspace, request_id, lifetime_days=await link_lifetime_days(workspace), by=staff.email
    )
    return Template(
        "staff/client_link.html",
        context={"staff": staff, "link": link_url(state.settings.base_url, token)},
    )
