"""The `portal` command: serve, worker, migrate, workspace create, demo."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
import httpx
import msgspec
import uvicorn

from core.db import bind_engine, connected, engine_for_url, migrate, pending_migrations, refresh_planner_statistics
from core.errors import Invalid
from core.heap import freeze_startup_heap
from core.instance import ensure_secret_key
from core.logs import configure_logging, logging_config
from core.queue import EMBEDDED_SOCKET_ENV, EmbeddedRedis, embedded_queue_path, make_queue
from core.settings import Settings, SettingsError, load_settings
from jobs.worker import build_worker
from staff.services import create_workspace

T = TypeVar("T")

EXIT_CONFIG = 2


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2."""
    click.echo(message, err=True)
    sys.exit(EXIT_CONFIG)


def settings_from_environment() -> Settings:
    """Settings or a one-line error and exit 2."""
    try:
        return load_settings(os.environ)
    except SettingsError as exc:
        fail(str(exc))


def run_with_database(settings: Settings, work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work` with the database engine bound and connected."""
    engine = engine_for_url(settings.database_url)
    bind_engine(engine)

    async def wrapped() -> T:
        async with connected(engine):
            return await work()

    try:
        return asyncio.run(wrapped())
    except OSError as exc:
        fail(f"PORTAL_DATABASE_URL: cannot connect ({exc.strerror or exc})")


async def _prepare_schema(settings: Settings) -> Settings:
    engine = engine_for_url(settings.database_url)
    if settings.is_sqlite:
        await migrate(engine)  # The embedded default needs no separate step.
        await refresh_planner_statistics(engine)
    elif pending := await pending_migrations(engine):
        fail(f"the database schema is out of date ({len(pending)} migrations pending): run `portal migrate`")
    return await ensure_secret_key(settings)


@click.group()
def main() -> None:
    """Client portal and payment pages for accounting firms."""


@main.command()
def migrate_command() -> None:
    """Create or upgrade the schema; safe to run twice."""
    settings = settings_from_environment()

    async def work() -> list[str]:
        engine = engine_for_url(settings.database_url)
        before = await pending_migrations(engine)
        await migrate(engine)
        await ensure_secret_key(settings)
        return before

    applied = run_with_database(settings, work)
    click.echo(f"schema up to date ({len(applied)} migration{'s' if len(applied) != 1 else ''} applied)")


migrate_command.name = "migrate"


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
def serve(host: str, port: int, workers: int) -> None:
    """Run the web app (and, with the embedded queue, the job worker in-process)."""
    settings = settings_from_environment()
    _serve(settings, host=host, port=port, workers=workers)


def _serve(settings: Settings, *, host: str, port: int, workers: int, banner: str | None = None) -> None:
    configure_logging()
    settings = run_with_database(settings, lambda: _prepare_schema(settings))
    embedded = _start_embedded_queue(settings) if settings.queue_url is None else None
    # Worker processes build the app from the environment: hand them what was resolved here.
    os.environ["PORTAL_SECRET_KEY"] = settings.secret_key or ""
    os.environ["PORTAL_DATABASE_URL"] = settings.database_url
    if banner:
        click.echo(banner)
    try:
        uvicorn.run(
            "core.asgi:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=True,
            log_level="info",
            log_config=logging_config(),  # every handler redacts magic links, tokens and OAuth codes
        )
    finally:
        if embedded is not None:
            embedded.stop()


def _start_embedded_queue(settings: Settings) -> EmbeddedRedis:
    embedded = EmbeddedRedis(embedded_queue_path(settings))
    os.environ[EMBEDDED_SOCKET_ENV] = embedded.start()
    return embedded


@main.command()
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
def worker(concurrency: int) -> None:
    """Run the SAQ job worker (jobs and cron) in this process."""
    settings = settings_from_environment()
    configure_logging()
    if settings.queue_url is None:
        fail("PORTAL_QUEUE_URL: the embedded queue runs inside `portal serve`; set a redis:// or postgresql:// URL")
    settings = run_with_database(settings, lambda: ensure_secret_key(settings))
    run_with_database(settings, lambda: _run_worker(settings, concurrency))


async def _run_worker(settings: Settings, concurrency: int) -> None:
    queue = make_queue(settings)
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
        freeze_startup_heap()
        # SAQ's worker stops gracefully on SIGINT/SIGTERM by itself.
        await build_worker(queue, context={"settings": settings, "http": http}, concurrency=concurrency).start()


@main.group()
def workspace() -> None:
    """Manage workspaces."""


@workspace.command("create")
@click.option("--name", required=True)
@click.option("--admin-email", required=True)
@click.option("--admin-password", required=True)
def workspace_create(name: str, admin_email: str, admin_password: str) -> None:
    """Create a workspace and its admin; prints {"workspace_id", "api_token"} (the token is shown once)."""
    settings = settings_from_environment()

    async def work() -> bytes:
        await migrate(engine_for_url(settings.database_url))
        return msgspec.json.encode(
            await create_workspace(name=name, admin_email=admin_email, admin_password=admin_password)
        )

    try:
        click.echo(run_with_database(settings, work).decode())
    except Invalid as exc:
        fail("; ".join(f"--{field.replace('_', '-')}: {message}" for field, message in exc.fields.items()))


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--data-dir", default="portal-demo", show_default=True, type=click.Path(file_okay=False))
def demo(port: int, data_dir: str) -> None:
    """Everything on embedded defaults, offline: ledger sandboxes connected, a seeded workspace."""
    from core.demo import (
        DEMO_EMAIL,
        DEMO_PASSWORD,
        connect_when_up,
        demo_environment,
        demo_settings,
        ledger_sandboxes,
        seed_demo,
    )

    configure_logging()
    directory = Path(data_dir).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{port}"
    with ledger_sandboxes(base_url, port) as ledgers:
        settings = demo_settings(directory, port, demo_environment(ledgers))
        settings = run_with_database(settings, lambda: _prepare_schema(settings))
        api_token = run_with_database(settings, seed_demo)
        connect_when_up(base_url, api_token, directory / "portal.sqlite3")
        banner = (
            f"\nCollections portal demo (offline)\n"
            f"  Staff sign-in: {base_url}/staff/login\n"
            f"  Email:         {DEMO_EMAIL}\n"
            f"  Password:      {DEMO_PASSWORD}\n"
            f"  Outbox:        {base_url}/staff/outbox  (client emails land here; no mail leaves this machine)\n"
            f"  Xero sandbox:  {ledgers.xero_url}   QuickBooks sandbox: {ledgers.quickbooks_url}\n"
            f"  Data:          {directory}\n"
        )
        _serve(settings, host="127.0.0.1", port=port, workers=1, banner=banner)
