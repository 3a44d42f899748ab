"""The one app factory: plugins, templates, CSRF, sessions, error handlers and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.plugins.htmx import HTMXPlugin
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from saq.queue import Queue

from core.db import bind_engine, connected, engine_for_url
from core.error_handlers import EXCEPTION_HANDLERS
from core.headers import SecurityHeaders, content_security_policy
from core.heap import freeze_startup_heap
from core.openapi import StrictStructSchemaPlugin, openapi_config
from core.queue import make_queue
from core.sessions import SessionConfig
from core.settings import Settings
from core.store import DatabaseStore
from core.stripe_gateway import StripeGateway
from core.templating import package_dir, template_engine
from jobs.worker import build_worker
from ledger.clients import LedgerContext
from ledger.routes import ledger_router
from portal.routes import portal_router
from portal.sessions import ClientSessions
from staff.api import api_router
from staff.routes import staff_router

SESSION_STORE = "sessions"
SESSION_MAX_AGE = 12 * 3600


def create_app(
    settings: Settings,
    *,
    queue: Queue | None = None,
    run_worker: bool | None = None,
) -> Litestar:
    """Assemble the web app.

    Args:
        settings: Validated settings with a secret key (see `core.instance.ensure_secret_key`).
        queue: The SAQ queue; built from the settings when omitted.
        run_worker: Run the job worker inside this process. Defaults to True for the embedded queue.
    """
    if not settings.secret_key:
        raise ValueError("settings.secret_key must be resolved before the app is created")
    engine = engine_for_url(settings.database_url)
    bind_engine(engine)
    app_queue = queue or make_queue(settings)
    in_process_worker = settings.queue_url is None if run_worker is None else run_worker

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with connected(engine), httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0)) as http:
            await app_queue.connect()
            app.state.http = http
            app.state.ledger = LedgerContext.create(settings, http)
            app.state.stripe = StripeGateway(settings) if settings.stripe_secret_key else None
            worker_task: asyncio.Task[None] | None = None
            if in_process_worker:
                shared = {
                    "settings": settings,
                    "http": http,
                    "ledger": app.state.ledger,
                    "stripe": app.state.stripe,
                }
                worker = build_worker(app_queue, context=shared, handle_signals=False)
                worker_task = asyncio.create_task(worker.start())
            freeze_startup_heap()
            try:
                yield
            finally:
                if worker_task is not None:
                    worker_task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker_task
                await app_queue.disconnect()
                if app.state.stripe is not None:
                    await app.state.stripe.aclose()

    # Staff sessions last 12 h from their last change: an unchanged session is neither rewritten nor its cookie
    # sent again, and a visitor without one gets none until there is something to keep (core/sessions.py).
    # Clients' portal sessions are signed cookies instead (portal/sessions.py), so portal pages skip the store.
    sessions = DatabaseStore("session")
    consent_urls = (settings.xero_login_base, settings.quickbooks_authorize_url)
    return Litestar(
        route_handlers=[
            api_router,
            staff_router,
            ledger_router,
            portal_router,
            create_static_files_router(path="/static", directories=[package_dir("static")], name="static"),
        ],
        lifespan=[lifespan],
        state=State(
            {
                "settings": settings,
                "queue": app_queue,
                "rate_limits": DatabaseStore("ratelimit"),
                "client_sessions": ClientSessions(settings.secret_key, secure=settings.secure_cookies),
            }
        ),
        stores={SESSION_STORE: sessions},
        before_send=[
            SecurityHeaders(
                csp=content_security_policy(settings.stripe_js_url, consent_urls),
                csp_inline_styles=content_security_policy(settings.stripe_js_url, consent_urls, inline_styles=True),
                hsts=settings.secure_cookies,
            )
        ],
        middleware=[
            SessionConfig(
                store=SESSION_STORE,
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
                max_age=SESSION_MAX_AGE,
                key="portal_session",
                # Only staff pages have server-side sessions; the API, webhooks, assets and the client portal
                # never touch the store.
                exclude=["/api/", "/webhooks/", "/static/", "/schema", "^/p/", "^/portal/"],
            ).middleware,
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_secure=settings.secure_cookies,
            cookie_httponly=True,
            cookie_samesite="lax",
            # Bearer-token API calls and signed webhooks carry no cookies, so CSRF does not apply.
            exclude=["/api/", "/webhooks/"],
        ),
        template_config=TemplateConfig(instance=template_engine()),
        exception_handlers=EXCEPTION_HANDLERS,
        plugins=[HTMXPlugin(), StrictStructSchemaPlugin()],
        openapi_config=openapi_config(),
        debug=False,
    )
