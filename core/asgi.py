"""ASGI entry point for uvicorn workers started by `portal serve`."""

from __future__ import annotations

import os

from litestar import Litestar

from core.app import create_app
from core.settings import load_settings


def app_from_environment() -> Litestar:
    """Build the app from the environment `portal serve` prepared (secret key resolved, queue running)."""
    return create_app(load_settings(os.environ))
