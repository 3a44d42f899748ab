"""Input and output shapes of the staff API and forms."""

from __future__ import annotations

import msgspec


class WorkspaceCreated(msgspec.Struct):
    """What `portal workspace create` prints: the API token is shown only this once."""

    workspace_id: str
    api_token: str


class HealthOut(msgspec.Struct):
    """`GET /api/v1/health`."""

    status: str
    checks: dict[str, bool] = msgspec.field(default_factory=dict)


class StaffIdentity(msgspec.Struct, frozen=True):
    """Who is signed in, as kept in the server-side session."""

    staff_id: str
    workspace_id: str
    email: str
    role: str
    signed_in_at: float = 0.0
    """When the password was checked (Unix time); a session older than `STAFF_SIGN_IN_LIFETIME` ends."""
