"""Scheduling collections from saved cards: one invoice from its ⋯ menu, or the selection."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import DomainError
from core.scope import WorkspaceScope
from ledger.services import workspace_today
from ledger.tables import Client, Invoice
from staff import selection
from staff.schedules import (
    ScheduleIn,
    cancel_collection,
    saved_cards,
    schedule_candidates,
    schedule_collection,
    schedule_many,
)
from staff.schemas import StaffIdentity


class ScheduleForm(msgspec.Struct, kw_only=True):
    """The schedule page's fields; an empty date means now."""

    invoice_ids: list[str] | str = msgspec.field(default_factory=list)
    """A form with one invoice sends one value, which arrives as a plain string."""
    collect_on: str = ""
    payment_method_id: str = ""
    single: str = ""
    """Set by the one-invoice page, which also picks the card."""

    @property
    def ids(self) -> list[str]:
        """The invoice ids as a list, however many were sent."""
        return [self.invoice_ids] if isinstance(self.invoice_ids, str) else self.invoice_ids


@get("/schedule")
async def schedule_page(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    invoice_id: FromQuery[str | None] = None,
) -> Template:
    """Collect now or on a date; one invoice (with a choice of card) or the whole selection."""
    return await _page(request, staff, workspace, state, [invoice_id] if invoice_id else None)


async def _page(
    request: Request[Any, Any, Any],
    staff: StaffIdentity,
    workspace: WorkspaceScope,
    state: State,
    single: list[str] | None,
    *,
    error: str | None = None,
    form: ScheduleForm | None = None,
) -> Template:
    ids = single or selection.selected_ids(request.session)
    candidates = await schedule_candidates(workspace, ids)
    cards = []
    if single and candidates:
        invoice = await workspace.get(Invoice, candidates[0].invoice_id, what="invoice")
        client = await Client.objects().where(Client.id == invoice.client).first()
        if client is not None:
            cards = await saved_cards(state.stripe, client)
    return Template(
        "staff/schedule.html",
        context={
            "staff": staff,
            "candidates": candidates,
            "single": bool(single),
            "cards": cards,
            "today": await workspace_today(workspace),
            "error": error,
            "form": form or ScheduleForm(invoice_ids=ids),
        },
        status_code=422 if error else 200,
    )


@post("/schedule")
async def schedule_submit(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    data: Annotated[ScheduleForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    """Schedule; one invoice goes back to its page, a selection to Collections with a summary."""
    single = data.ids[:1] if data.single else None
    try:
        collect_on = dt.date.fromisoformat(data.collect_on) if data.collect_on else None
    except ValueError:
        return await _page(request, staff, workspace, state, single, error="Enter a date like 2026-12-01.", form=data)
    try:
        if single:
            body = ScheduleIn(collect_on=collect_on, payment_method_id=data.payment_method_id or None)
            await schedule_collection(workspace, state.stripe, state.queue, single[0], body, created_by=staff.email)
            return Redirect(f"/staff/invoices/{single[0]}", status_code=303)
        count, problems = await schedule_many(
            workspace, state.stripe, state.queue, data.ids, collect_on, created_by=staff.email
        )
    except DomainError as exc:
        return await _page(request, staff, workspace, state, single, error=exc.message, form=data)
    if count == 0:
        reason = problems[0] if problems else "Nothing was selected."
        return await _page(request, staff, workspace, state, None, error=reason, form=data)
    selection.clear(request.session)
    return Redirect(f"/staff/collections?scheduled={count}&skipped={len(problems)}", status_code=303)


@post("/invoices/{invoice_id:str}/schedule/cancel")
async def schedule_cancel(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]
) -> Redirect:
    """Cancel the pending collection (refused once it is being charged)."""
    await cancel_collection(workspace, invoice_id, cancelled_by=staff.email)
    return Redirect(f"/staff/invoices/{invoice_id}", status_code=303)
