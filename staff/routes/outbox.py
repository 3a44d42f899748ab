"""The demo outbox: mail kept instead of sent when no SMTP server is configured.

Each workspace sees only its own mail: the emails carry clients' magic links.
"""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from litestar import Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from core.errors import NotFound
from core.headers import INLINE_STYLES_OPT, content_disposition
from core.scope import WorkspaceScope
from core.tables import OutboxMessage
from staff.schemas import StaffIdentity


@get("/outbox")
async def outbox(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], state: State
) -> Template:
    """The workspace's newest 200 messages (only when mail goes to the outbox)."""
    if state.settings.smtp_url:
        raise NotFound("Mail is sent through SMTP here; there is no outbox.")
    rows = (
        await workspace.select(
            OutboxMessage, OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.subject, OutboxMessage.created_at
        )
        .order_by(OutboxMessage.created_at, ascending=False)
        .limit(200)
    )
    return Template("staff/outbox.html", context={"staff": staff, "rows": rows})


@get("/outbox/{message_id:str}", opt={INLINE_STYLES_OPT: True})  # the email's own styles, in a sandboxed frame
async def outbox_message(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    message_id: FromPath[str],
) -> Template:
    """One message: headers, text, the HTML in a sandboxed frame, and its attachments."""
    message = await _message(state, workspace, message_id)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    attachments = [
        (index, part.get_filename(), len(part.get_content())) for index, part in enumerate(message.iter_attachments())
    ]
    return Template(
        "staff/outbox_message.html",
        context={
            "staff": staff,
            "id": message_id,
            "message": message,
            "text": text.get_content() if text else "",
            "html": html.get_content() if html else "",
            "attachments": attachments,
        },
    )


@get("/outbox/{message_id:str}/attachments/{index:int}")
async def outbox_attachment(
    workspace: NamedDependency[WorkspaceScope], state: State, message_id: FromPath[str], index: FromPath[int]
) -> Response[bytes]:
    """An attachment exactly as mailed."""
    parts = list((await _message(state, workspace, message_id)).iter_attachments())
    if not 0 <= index < len(parts):
        raise NotFound("No such attachment.")
    part = parts[index]
    return Response(
        part.get_content(),
        media_type=part.get_content_type(),
        headers={"Content-Disposition": content_disposition("inline", part.get_filename() or "attachment")},
    )


async def _message(state: State, workspace: WorkspaceScope, message_id: str) -> EmailMessage:
    if state.settings.smtp_url:
        raise NotFound("No outbox.")
    row = await workspace.get(OutboxMessage, message_id, what="message")
    message = email.message_from_bytes(bytes(row.mime), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message
