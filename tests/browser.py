"""Real pages in a real browser: Debian's Chromium driven by Playwright, and the app on uvicorn.

Playwright's own browser download is never used (`playwright install` fails on these machines):
`launch_chromium()` starts the Chromium that `apt-get install chromium` puts in
/usr/lib/chromium (`make services`, i.e. `scripts/install-services --chromium`).

    async with launch_chromium() as browser, serve_app(app) as base_url:
        page = await browser.new_page()
        await page.goto(f"{base_url}/revoke/")
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from fastapi import FastAPI

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM = Path("/usr/lib/chromium/chromium")  # the real binary; /usr/bin/chromium is a wrapper
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu",
    # This machine's network is closed: without these Chromium keeps calling Google's hosts.
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--disable-quic",
)
LAUNCH_TIMEOUT_MS = 30_000
SERVER_START_TIMEOUT_S = 10.0
# A page's own wait (goto, click, expect): generous, because CI's 2-core machine runs Chromium
# beside the suite; a step that hangs still fails, only later. One load took >10 s there once.
PAGE_TIMEOUT_MS = 30_000


@functools.cache
def chromium_available() -> tuple[bool, str]:
    """(True, version) when Playwright and Debian's Chromium are both usable, else (False, why)."""
    if importlib.util.find_spec("playwright") is None:
        return False, "the playwright package is not installed (pip install -e '.[dev]')"
    if not os.access(CHROMIUM, os.X_OK):
        return False, (f"{CHROMIUM} is missing (apt-get install chromium, "
                       "or scripts/install-services --chromium as root)")
    try:
        out = subprocess.run([str(CHROMIUM), "--version"], capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{CHROMIUM} --version failed: {exc}"
    if out.returncode != 0:
        return False, f"{CHROMIUM} --version exited {out.returncode}: {out.stderr.strip()[:200]}"
    return True, out.stdout.strip()


@contextlib.asynccontextmanager
async def launch_chromium(*extra_args: str) -> AsyncIterator[Browser]:
    """Headless Debian Chromium; closed, and its driver stopped, on the way out.

    Every launch gets a fresh, empty profile: Playwright makes a temporary --user-data-dir
    for `launch()` and deletes it on close (it refuses a --user-data-dir in `args`).
    """
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=PAGE_TIMEOUT_MS)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *extra_args],
            timeout=LAUNCH_TIMEOUT_MS)
        try:
            yield browser
        finally:
            await browser.close()


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: Ctrl-C stays with pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port (or `port`, to come back on the same origin after
    a restart) in this event loop; yields "http://127.0.0.1:PORT".

    The lifespan stays off: the `app` fixture has already run it.
    """
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                            access_log=False, ws_per_message_deflate=False,
                            timeout_graceful_shutdown=5)
    server = _Server(config)

    async def serve() -> None:
        try:
            await server.serve()
        except SystemExit as exc:  # uvicorn exits the process when it cannot bind
            raise RuntimeError(f"uvicorn failed to start (exit {exc.code})") from None

    task = asyncio.create_task(serve(), name="rooms-uvicorn")
    try:
        async with asyncio.timeout(SERVER_START_TIMEOUT_S):
            while not server.started:
                if task.done():
                    task.result()  # raises why it stopped
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        if not task.done():
            await task
        elif not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


class Server:
    """`app` on one fixed loopback port, stoppable and startable again: the page's origin (and
    with it its cookies, localStorage and IndexedDB) stays the same across a restart."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack: contextlib.AsyncExitStack | None = None

    async def start(self) -> None:
        self._stack = contextlib.AsyncExitStack()
        await self._stack.enter_async_context(serve_app(self.app, self.port))

    async def stop(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()
