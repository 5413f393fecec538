"""Live tests run a real uvicorn server in this process, on the app fixture's lifespan.

`@pytest.mark.live_settings(live_queue_size=4, ...)` changes settings for one test.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.serving import LeanWebSockets
from tests.helpers import resources


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "live_settings(**values): settings for this test")


@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("live_settings")
    if marker is None:
        return settings
    return settings.model_copy(update=marker.kwargs)


@dataclass
class LiveServer:
    app: FastAPI
    port: int

    @property
    def hub(self) -> Hub:
        return resources(self.app).hub

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str = "/ws/live", token: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.port}{path}" + (f"?token={token}" if token else "")


@asynccontextmanager
async def serve(app: FastAPI, **config: Any) -> AsyncIterator[LiveServer]:
    """uvicorn on a free loopback port, in this event loop, with the websocket protocol `rooms
    serve` uses; stopped (and awaited) after."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    options: dict[str, Any] = {"lifespan": "off", "log_config": None, "ws": LeanWebSockets,
                               "ws_per_message_deflate": False, "timeout_graceful_shutdown": 5}
    server = uvicorn.Server(uvicorn.Config(app, **{**options, **config}))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started and not task.done():
                await asyncio.sleep(0.01)
        if task.done():
            task.result()
        yield LiveServer(app, port)
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def live_server(app: FastAPI) -> AsyncIterator[LiveServer]:
    async with serve(app) as server:
        yield server


class Client:
    """A `websockets` client speaking the live protocol, with deadlines on every read."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, value: Any) -> None:
        await self.ws.send(value if isinstance(value, str) else json.dumps(value))

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            data: dict[str, Any] = json.loads(await self.ws.recv())
        return data

    async def request(self, value: Any, timeout: float = 10.0) -> dict[str, Any]:
        await self.send(value)
        return await self.recv(timeout)

    async def closed(self, timeout: float = 10.0) -> tuple[int | None, str, list[Any]]:
        """Read until the server closes: (close code, reason, messages seen before)."""
        seen: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    seen.append(json.loads(await self.ws.recv()))
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return (rcvd.code if rcvd else None), (rcvd.reason if rcvd else ""), seen


@asynccontextmanager
async def live_client(server: LiveServer, *, topics: tuple[str, ...] = (),
                      token: str | None = None, mint: bool = True, path: str = "/ws/live",
                      origin: str | None = None,
                      headers: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """Connect (minting a token unless given or `mint=False`), subscribe, close at the end."""
    if token is None and mint:
        token = server.hub.tokens.mint("ops" if path == "/ws/ops" else "live")
    ws = await connect(server.ws_url(path, token), origin=origin,  # type: ignore[arg-type]
                       additional_headers=headers, compression=None, open_timeout=10)
    client = Client(ws)
    try:
        if topics:
            reply = await client.request({"op": "subscribe", "topics": list(topics)})
            assert reply == {"op": "subscribed", "topics": list(topics)}
        yield client
    finally:
        await ws.close()


async def until(predicate: Callable[[], bool], timeout: float = 10.0,
                what: str = "condition") -> None:
    """Wait for `predicate` with a deadline (a condition, never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
