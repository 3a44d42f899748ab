"""localstripe, the Stripe stand-in, served on loopback from a thread: for `portal demo` and the tests.

Stripe itself is never replaced in production; this only runs where no network reaches Stripe.
"""

from __future__ import annotations

import asyncio
import threading
import warnings

from aiohttp import web

from core.serving import free_port

DEMO_SECRET_KEY = "sk_test_localstripe"  # noqa: S105 - localstripe accepts any sk_ key
DEMO_PUBLISHABLE_KEY = "pk_test_localstripe"


class LocalStripeServer:
    """localstripe's aiohttp app served from one event loop in a daemon thread.

    aiohttp binds an Application to the first loop that runs it, and localstripe's app is a module global,
    so the loop (and its thread) lives as long as the process; only the listening socket comes and goes.
    """

    def __init__(self) -> None:
        # Imported here: importing localstripe builds its global store and app. Its handlers are plain
        # functions, which aiohttp deprecates when the routes are added; that is localstripe's to fix.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Bare functions are deprecated", DeprecationWarning)
            from localstripe.resources import store
            from localstripe.server import app

        # localstripe pickles its whole store to /tmp after every write, which makes each write slower than
        # the last and lets parallel processes clobber one file; the stand-in keeps its objects in memory.
        store.dump_to_disk = lambda: None
        self._app: web.Application = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="localstripe", daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    def start(self, port: int | None = None) -> int:
        """Listen on a loopback port (a free one unless given); returns the port."""
        port = port or free_port()
        asyncio.run_coroutine_threadsafe(self._serve(port), self._loop).result(timeout=20)
        return port

    def stop(self) -> None:
        """Close the socket and drop webhook deliveries localstripe has not sent yet."""
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=20)

    async def _serve(self, port: int) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def main() -> None:
    """`python -m core.stripe_standin --port N`: serve the stand-in in a process of its own until killed."""
    import argparse

    parser = argparse.ArgumentParser(description="localstripe on loopback, kept in memory")
    parser.add_argument("--port", type=int, required=True)
    LocalStripeServer().start(parser.parse_args().port)
    threading.Event().wait()  # SIGTERM or SIGINT ends the process.


if __name__ == "__main__":
    main()
