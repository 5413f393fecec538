"""/ws/ops: the session cookie opens it, and the node status arrives without asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from rooms.access.operator import COOKIE
from tests.live.conftest import Client, LiveServer, serve
from tests.ops.conftest import BROWSER, login


@asynccontextmanager
async def operator_socket(server: LiveServer, cookie: str,
                          user_agent: str = BROWSER["User-Agent"]) -> AsyncIterator[Client]:
    ws = await connect(server.ws_url("/ws/ops"),
                       additional_headers={"Cookie": f"{COOKIE}={cookie}"},
                       user_agent_header=user_agent, compression=None, open_timeout=10)
    try:
        yield Client(ws)
    finally:
        await ws.close()


async def next_status(ops: Client) -> dict[str, Any]:
    while True:
        message = await ops.recv()
        if message.get("event") == "node_status":
            return message


@pytest.mark.ops_settings(ops_status_push_s=3600)
async def test_a_signed_in_dashboard_gets_the_node_status_at_once(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    cookie = (await login(client)).cookies[COOKIE]
    async with serve(app) as server, operator_socket(server, cookie) as ops:
        assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
        pushed = await ops.recv()  # on joining, not after OPS_STATUS_PUSH_S
        assert (pushed["topic"], pushed["event"]) == ("ops", "node_status")
        assert pushed["node"] == server.hub.node
        assert {"ok", "components", "artifacts", "playable", "lanes", "moods", "storage",
                "live", "warnings"} <= set(pushed)
        assert pushed["live"]["topics"]["ops"] == 1


@pytest.mark.ops_settings(ops_status_push_s=0.05)
async def test_the_status_keeps_coming_while_the_dashboard_is_open(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    cookie = (await login(client)).cookies[COOKIE]
    async with serve(app) as server, operator_socket(server, cookie) as ops:
        first = await next_status(ops)
        second = await next_status(ops)
        assert second["now"] > first["now"]


async def test_the_cookie_of_another_browser_does_not_open_the_socket(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    cookie = (await login(client)).cookies[COOKIE]
    async with serve(app) as server, operator_socket(server, cookie, "someone else") as ops:
        code, reason, seen = await ops.closed()
    assert (code, reason, seen) == (4401, "invalid token", [])
