"""Collections → Outstanding (the staff home): filters, paging, the selection bar."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template

from core.errors import Invalid
from core.scope import WorkspaceScope
from ledger.schemas import InvoiceListQuery
from ledger.services import list_invoices, workspace_today
from staff import selection
from staff.schemas import StaffIdentity

TABS = ("outstanding", "processing", "paid", "all")
SORTS = {
    "due_date": "Due date (soonest)",
    "-due_date": "Due date (latest)",
    "-amount_due": "Amount (largest)",
    "amount_due": "Amount (smallest)",
    "number": "Invoice number",
}


class ListFilters(msgspec.Struct, kw_only=True):
    """The filter form's fields (all optional, as query parameters)."""

    tab: str = "outstanding"
    source: str = ""
    q: str = ""
    due_after: str = ""
    due_before: str = ""
    overdue: str = ""
    client_id: str = ""
    sort: str = "due_date"
    cursor: str = ""

    def query(self, *, limit: int = 50) -> InvoiceListQuery:
        """The service query these filters mean; a bad date is a field error."""
        return InvoiceListQuery(
            status=self.tab if self.tab in TABS else "outstanding",
            source=self.source or None,
            q=self.q or None,
            due_after=_date(self.due_after, "due_after"),
            due_before=_date(self.due_before, "due_before"),
            overdue=self.overdue in ("1", "true", "on"),
            client_id=self.client_id or None,
            sort=self.sort if self.sort in SORTS else "due_date",
            cursor=self.cursor or None,
            limit=limit,
        )

    def query_string(self, **changes: str) -> str:
        """These filters (some changed) as a query string."""
        values = {**msgspec.structs.asdict(self), **changes}
        return urlencode({key: value for key, value in values.items() if value})

    def link(self, **changes: str) -> str:
        """This page's URL with some filters changed (for tabs, paging and sorting links)."""
        return "/staff/collections?" + self.query_string(**changes)


def _date(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Invalid("Use a date like 2026-12-01.", fields={field: "Use a date like 2026-12-01."}) from None


def filters_from(request: Request[Any, Any, Any]) -> ListFilters:
    params = {key: request.query_params.get(key) for key in ListFilters.__struct_fields__}
    filters = ListFilters(**{key: value for key, value in params.items() if value})
    return filters if filters.tab in TABS else msgspec.structs.replace(filters, tab="outstanding")


@get("/collections")
async def collections_page(
    request: Request[Any, Any, Any], staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope]
) -> Template:
    """The invoice table for a tab and filters; htmx asks for the table alone, a browser for the page."""
    filters = filters_from(request)
    error = None
    try:
        page = await list_invoices(workspace, filters.query())
    except Invalid as exc:
        error = " ".join(exc.fields.values()) or exc.message
        filters = ListFilters(tab=filters.tab)
        page = await list_invoices(workspace, filters.query())
    chosen = selection.selected_ids(request.session)
    context = {
        "staff": staff,
        "tabs": TABS,
        "sorts": SORTS,
        "filters": filters,
        "page": page,
        "selected": set(chosen),
        "summary": await selection.summary(request.session, workspace),
        "error": error,
        "today": await workspace_today(workspace),
        "connected": request.query_params.get("connected"),
        "scheduled": request.query_params.get("scheduled"),
        "skipped": request.query_params.get("skipped"),
    }
    partial = request.headers.get("hx-request") and request.headers.get("hx-target") == "results"
    response = Template("staff/_invoice_table.html" if partial else "staff/collections.html", context=context)
    response.headers["Vary"] = "HX-Request"
    return response


class ToggleForm(msgspec.Struct):
    """A checkbox changed."""

    invoice_id: str = ""
    selected: str = ""


@post("/selection/toggle")
async def toggle_selection(
    request: Request[Any, Any, Any],
    workspace: NamedDependency[WorkspaceScope],
    data: Annotated[ToggleForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    """Add or remove one invoice; answers with the selection bar."""
    selection.toggle(request.session, [data.invoice_id], selected=data.selected in ("1", "true", "on"))
    return Template(
        "staff/_selection_bar.html", context={"summary": await selection.summary(request.session, workspace)}
    )


@post("/selection/all")
async def select_all(
    request: Request[Any, Any, Any], workspace: NamedDependency[WorkspaceScope]
) -> Template | Redirect:
    """Select every invoice the current filters match, without loading them into the page."""
    filters = filters_from(request)
    await selection.select_all_matching(request.session, workspace, filters.query())
    if request.headers.get("hx-request"):
        return Template(
            "staff/_selection_bar.html", context={"summary": await selection.summary(request.session, workspace)}
        )
    return Redirect(filters.link(), status_code=303)


@post("/selection/clear")
async def clear_selection(
    request: Request[Any, Any, Any], workspace: NamedDependency[WorkspaceScope]
) -> Template | Redirect:
    """Select nothing."""
    selection.clear(request.session)
    if request.headers.get("hx-request"):
        return Template(
            "staff/_selection_bar.html", context={"summary": await selection.summary(request.session, workspace)}
        )
    return Redirect("/staff/collections", status_code=303)
