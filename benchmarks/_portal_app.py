"""The two apps `benchmarks/portal_page.py` serves, as factories a uvicorn process imports (`--factory`).

- `portal_app`: our app, built like `core.asgi.app_from_environment` from the environment the benchmark
  prepares (database, secret key, embedded queue socket or queue URL), but without the in-process job
  worker, so the server only answers requests;
- `hello_app`: the baseline, a bare Litestar app whose one route returns a small HTML string.
"""

from __future__ import annotations

import os

from litestar import Litestar, MediaType, get

from core.app import create_app
from core.settings import load_settings

HELLO = "<!doctype html><html><head><title>Hello</title></head><body><p>Hello, world!</p></body></html>"


def portal_app() -> Litestar:
    """The portal as `portal serve` builds it, minus the job worker (nothing is queued by the page)."""
    return create_app(load_settings(os.environ), run_worker=False)


async def hello() -> str:
    """A fixed page."""
    return HELLO


def hello_app() -> Litestar:
    """A bare Litestar hello-world: one GET route, no middleware, no templates, no database."""
    return Litestar([get("/", media_type=MediaType.HTML)(hello)])
