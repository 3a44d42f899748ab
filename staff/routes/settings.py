"""Settings page: firm details, message templates and staff accounts (admins change, members read)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import Conflict, Invalid
from core.scope import WorkspaceScope
from staff.deps import SESSION_KEY
from staff.request_emails import PLACEHOLDERS
from staff.schemas import StaffIdentity
from staff.settings import (
    change_role,
    create_template,
    delete_template,
    invite_staff,
    remove_staff,
    save_workspace_settings,
    settings_view,
    update_template,
)
from staff.settings_schemas import InviteForm, RoleForm, TemplateForm, WorkspaceSettingsForm

FORM = RequestEncodingType.URL_ENCODED
NOTICES = {
    "saved": "Settings saved.",
    "template-added": "Template added. It is offered in the request panel.",
    "template-saved": "Template saved.",
    "template-deleted": "Template deleted.",
    "invited": "Account created. Share the email and initial password with them; they can sign in now.",
    "role": "Role changed.",
    "removed": "Account removed.",
}


async def _page(
    workspace: WorkspaceScope,
    staff: StaffIdentity,
    *,
    notice: str | None = None,
    error: Invalid | Conflict | None = None,
    **forms: Any,
) -> Template:
    """The whole page; `forms` re-fill the form that failed (`workspace_form`, `new_template`, `editing`, `invite`)."""
    view = await settings_view(workspace, staff)
    context: dict[str, Any] = {
        "staff": staff,
        "view": view,
        "notice": notice,
        "problem": error.message if error else None,
        "placeholders": PLACEHOLDERS,
        "workspace_form": view.workspace,
        "workspace_errors": {},
        "new_template": TemplateForm(),
        "new_template_errors": {},
        "editing": None,
        "invite": InviteForm(),
        "invite_errors": {},
        **forms,
    }
    return Template("staff/settings.html", context=context, status_code=error.status_code if error else 200)


@get("/settings")
async def settings_page(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], done: FromQuery[str] = ""
) -> Template:
    """Firm details, message templates and staff accounts."""
    return await _page(workspace, staff, notice=NOTICES.get(done))


@post("/settings")
async def settings_save(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    data: Annotated[WorkspaceSettingsForm, Body(media_type=FORM)],
) -> Redirect | Template:
    """Save the firm's details; bad fields come back on the re-filled form and nothing is saved."""
    try:
        await save_workspace_settings(workspace, staff, data)
    except Invalid as exc:
        return await _page(workspace, staff, error=exc, workspace_form=data, workspace_errors=exc.fields)
    return Redirect("/staff/settings?done=saved", status_code=303)


@post("/settings/templates")
async def template_create(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    data: Annotated[TemplateForm, Body(media_type=FORM)],
) -> Redirect | Template:
    """Add a message template."""
    try:
        await create_template(workspace, staff, data)
    except Invalid as exc:
        return await _page(workspace, staff, error=exc, new_template=data, new_template_errors=exc.fields)
    return Redirect("/staff/settings?done=template-added#templates", status_code=303)


@post("/settings/templates/{template_id:str}")
async def template_update(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    template_id: FromPath[str],
    data: Annotated[TemplateForm, Body(media_type=FORM)],
) -> Redirect | Template:
    """Change a message template."""
    try:
        await update_template(workspace, staff, template_id, data)
    except Invalid as exc:
        editing = {"id": template_id, "form": data, "errors": exc.fields}
        return await _page(workspace, staff, error=exc, editing=editing)
    return Redirect("/staff/settings?done=template-saved#templates", status_code=303)


@post("/settings/templates/{template_id:str}/delete")
async def template_delete(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], template_id: FromPath[str]
) -> Redirect:
    """Delete a message template."""
    await delete_template(workspace, staff, template_id)
    return Redirect("/staff/settings?done=template-deleted#templates", status_code=303)


@post("/settings/staff")
async def staff_invite(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    data: Annotated[InviteForm, Body(media_type=FORM)],
) -> Redirect | Template:
    """Create a staff account with an initial password."""
    try:
        await invite_staff(workspace, staff, data)
    except Invalid as exc:
        refill = InviteForm(email=data.email, role=data.role)  # Never echo the password back.
        return await _page(workspace, staff, error=exc, invite=refill, invite_errors=exc.fields)
    return Redirect("/staff/settings?done=invited#staff", status_code=303)


@post("/settings/staff/{member_id:str}/role")
async def staff_role(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    member_id: FromPath[str],
    data: Annotated[RoleForm, Body(media_type=FORM)],
) -> Redirect | Template:
    """Make someone an admin or a member (never the last admin a member)."""
    try:
        member = await change_role(workspace, staff, member_id, data.role)
    except (Invalid, Conflict) as exc:
        return await _page(workspace, staff, error=exc)
    if member.id == staff.staff_id:
        # The session carries the role other pages check; keep it truthful after changing one's own.
        request.set_session({SESSION_KEY: msgspec.to_builtins(msgspec.structs.replace(staff, role=member.role))})
    return Redirect("/staff/settings?done=role#staff", status_code=303)


@post("/settings/staff/{member_id:str}/remove")
async def staff_remove(
    request: Request[Any, Any, Any],
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    member_id: FromPath[str],
) -> Redirect | Template:
    """Delete a staff account (never the last admin); removing oneself signs out."""
    try:
        removed = await remove_staff(workspace, staff, member_id)
    except Conflict as exc:
        return await _page(workspace, staff, error=exc)
    if removed.id == staff.staff_id:
        request.clear_session()
        return Redirect("/staff/login", status_code=303)
    return Redirect("/staff/settings?done=removed#staff", status_code=303)
