"""ASGI entry point for uvicorn workers started by `portal serve`."""

from __future__ import annotations

import os

from litestar import Litestar

from core.app import create_app
from core.logs import configure_structlog
from core.settings import load_settings


def app_from_environment() -> Litestar:
    """Build the app from the environment `portal serve` prepared (secret key resolved, queue running)."""
    configure_structlog()  # uvicorn configured the standard library in this process (core.logs.logging_config)
    return create_app(load_settings(os.environ))
