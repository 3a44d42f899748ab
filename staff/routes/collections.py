"""Collections → Outstanding (the staff home page)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from core.scope import WorkspaceScope
from ledger.schemas import InvoiceListQuery
from ledger.services import list_invoices
from staff.schemas import StaffIdentity

TABS = ("outstanding", "processing", "paid", "all")


@get("/collections")
async def collections_page(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    tab: FromQuery[str] = "outstanding",
) -> Template:
    """The Collections page; the Outstanding tab is the default."""
    current = tab if tab in TABS else "outstanding"
    overview = await list_invoices(workspace, InvoiceListQuery(status=current))
    return Template(
        "staff/collections.html",
        context={"staff": staff, "tab": current, "tabs": TABS, "overview": overview},
    )
