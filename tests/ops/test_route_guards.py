"""Every operator route and websocket, found by walking the app's routes, refuses a caller
without a session or Bearer secret, a caller outside OPS_ALLOWED_NETWORKS, and (for a
state change) a browser request from a foreign Origin. A new operator route is covered the
day it is added."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import WebSocketRoute

from tests.helpers import walk_routes
from tests.live.conftest import live_client, serve
from tests.ops.conftest import SECRET

BEARER = {"Authorization": f"Bearer {SECRET}"}
FOREIGN = {"Origin": "https://evil.example"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
OPERATOR = re.compile(r"^(/api/v1/operator/|/api/v1/derivatives/spectrograms|"
                      r"/api/v1/node/status$|/ws/ops$)")


def operator_routes(app: FastAPI) -> tuple[list[tuple[str, str]], list[str]]:
    """(method, concrete path) of every operator HTTP route, and the operator websockets."""
    http, ws = [], []
    for path, route in walk_routes(app.routes):
        if not OPERATOR.match(path):
            continue
        concrete = re.sub(r"\{[a-z_]+\}", "1", path.replace("{name}", "discovery_probe"))
        if isinstance(route, WebSocketRoute):
            ws.append(concrete)
        else:
            assert isinstance(route, APIRoute)
            http += [(m, concrete) for m in sorted(route.methods - {"HEAD"})]
    return http, ws


def test_the_walk_finds_the_operator_surface(app: FastAPI) -> None:
    http, ws = operator_routes(app)
    found = {f"{m} {p}" for m, p in http}
    assert {"GET /api/v1/node/status", "POST /api/v1/operator/controls",
            "PUT /api/v1/operator/schedule", "POST /api/v1/operator/artifacts/1/remove",
            "GET /api/v1/derivatives/spectrograms",
            "POST /api/v1/operator/workers/discovery_probe/restart"} <= found
    assert len(http) >= 17 and ws == ["/ws/ops"]


async def test_no_operator_route_answers_a_stranger_or_a_foreign_page(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    http, _ = operator_routes(app)
    for method, path in http:
        anonymous = await client.request(method, path)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.json()["error"]["code"] == "ops_auth_required"
        if method in UNSAFE:
            foreign = await client.request(method, path, headers={**BEARER, **FOREIGN})
            assert foreign.status_code == 403, (method, path, foreign.text)
            assert foreign.json()["error"]["code"] == "ops_origin_forbidden"
        else:  # reading is not a change: a foreign Origin gets nothing it could not read
            assert (await client.request(method, path, headers=FOREIGN)).status_code == 401
    async with serve(app) as server, live_client(server, path="/ws/ops", mint=False) as ops:
        code, _, _ = await ops.closed()
        assert code == 4401


@pytest.mark.ops_settings(ops_allowed_networks="10.99.0.0/16")
async def test_no_operator_route_answers_outside_the_allowed_networks(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    http, ws = operator_routes(app)
    for method, path in http:
        refused = await client.request(method, path, headers=BEARER)
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["error"]["code"] == "ops_network_forbidden"
    async with serve(app) as server:
        for path in ws:
            async with live_client(server, path=path, mint=False, headers=BEARER) as ops:
                code, _, _ = await ops.closed()
                assert code == 4403, path


async def test_a_script_with_the_bearer_secret_needs_no_origin(
        client: httpx.AsyncClient) -> None:
    changed = await client.post("/api/v1/operator/controls", json={"quieter_mode": True},
                                headers=BEARER)
    assert changed.status_code == 200
    same_site = await client.post("/api/v1/operator/controls", json={"quieter_mode": False},
                                  headers={**BEARER, "Origin": str(client.base_url).rstrip("/")})
    assert same_site.status_code == 200, same_site.text
