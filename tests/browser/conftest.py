"""Browser tests: the running app on a real port (same event loop), driven by Debian's Chromium."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator

import pytest
import uvicorn
from litestar import Litestar
from playwright.async_api import Browser, Page, async_playwright

from core.serving import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
async def live_url(running_app: Litestar) -> AsyncIterator[str]:
    """The app served over HTTP on loopback; its lifespan already runs under the tests' loop."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(running_app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium."""
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        await instance.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (own cookies) and page, phone-sized unless a test resizes it."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    await context.close()
