"""Workspace scoping in one place: every staff query goes through a `WorkspaceScope`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from piccolo.query.methods.objects import Objects
from piccolo.query.methods.select import Select
from piccolo.table import Table

from core.errors import NotFound

T = TypeVar("T", bound=Table)


def parse_id(value: str | uuid.UUID, *, what: str = "object") -> uuid.UUID:
    """An id from a URL or body; a malformed one is reported as not found, like any unknown id."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"No such {what}.") from None


@dataclass(frozen=True)
class WorkspaceScope:
    """The workspace a request or job acts for; queries built here can only see its rows."""

    workspace_id: uuid.UUID

    def select(self, table: type[Table], *columns: Any) -> Select[Any]:
        """SELECT limited to this workspace."""
        return table.select(*columns).where(table._meta.get_column_by_name("workspace") == self.workspace_id)

    def objects(self, table: type[T]) -> Objects[T]:
        """Objects query limited to this workspace."""
        return table.objects().where(table._meta.get_column_by_name("workspace") == self.workspace_id)

    async def get(self, table: type[T], object_id: str | uuid.UUID, *, what: str = "object") -> T:
        """One row of this workspace by id, or NotFound (also for other workspaces' ids)."""
        row = await self.objects(table).where(table._meta.primary_key == parse_id(object_id, what=what)).first()
        if row is None:
            raise NotFound(f"No such {what}.")
        return row
