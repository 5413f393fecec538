"""The sign-in lockout holds: per client and per IP, on every path that checks the secret."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rooms.access.operator import COOKIE
from tests.helpers import metric
from tests.live.conftest import serve
from tests.ops.conftest import BROWSER, SECRET, error_code, login
from tests.ops.test_auth import client_from

STATUS = "/api/v1/node/status"


def bearer(secret: str, agent: str = BROWSER["User-Agent"]) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "User-Agent": agent}


async def test_six_wrong_then_the_right_secret_from_one_client_is_429(
        client: httpx.AsyncClient) -> None:
    for _ in range(6):
        assert (await login(client, "guess")).status_code == 403
    locked = await login(client)
    assert locked.status_code == 429
    assert error_code(locked) == "ops_login_locked"
    assert COOKIE not in locked.cookies
    assert await metric(client, "rooms_ops_auth_failures_total", via="login") == 6
    assert await metric(client, "rooms_ops_lockouts_total", scope="client") == 1
    assert await metric(client, "rooms_ops_locked_refusals_total", via="login") == 1


async def test_rotating_user_agents_on_one_ip_are_locked_after_thirty(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    for n in range(29):
        wrong = await login(client, "guess", headers={"User-Agent": f"agent {n}"})
        assert wrong.status_code == 403
    # A venue shares one IP: the steward's own browser still signs in after 29 others' typos.
    assert (await login(client, headers={"User-Agent": "steward"})).status_code == 303
    assert (await login(client, "guess", headers={"User-Agent": "agent 29"})).status_code == 403
    for agent in ("agent 30", "steward", "a browser never seen"):
        locked = await login(client, headers={"User-Agent": agent})
        assert locked.status_code == 429, agent
        assert error_code(locked) == "ops_login_locked"
        assert locked.headers["retry-after"] == "900"
    assert await metric(client, "rooms_ops_lockouts_total", scope="ip") == 1
    assert await metric(client, "rooms_ops_lockouts_total", scope="client") == 0
    async with client_from(app, "10.9.8.7") as elsewhere:  # another IP is not locked
        assert (await login(elsewhere)).status_code == 303


async def test_bearer_guesses_count_and_a_locked_client_is_refused_everywhere(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    assert (await client.get(STATUS, headers=bearer(SECRET))).status_code == 200
    for n in range(6):
        guess = await client.get(STATUS, headers=bearer(f"guess-{n}"))
        assert guess.status_code == 401
        assert error_code(guess) == "ops_auth_required"
    for path in (STATUS, "/api/v1/operator/controls"):
        locked = await client.get(path, headers=bearer(SECRET))
        assert locked.status_code == 429, path
        assert error_code(locked) == "ops_login_locked"
    minted = await client.post("/api/v1/live/token", json={"purpose": "ops"},
                               headers=bearer(SECRET))
    assert minted.status_code == 429
    assert (await login(client)).status_code == 429  # the same counters as sign-in
    assert await metric(client, "rooms_ops_auth_failures_total", via="bearer") == 6
    assert await metric(client, "rooms_ops_locked_refusals_total", via="bearer") == 3
    async with client_from(app, "10.9.8.7") as elsewhere:
        assert (await elsewhere.get(STATUS, headers=bearer(SECRET))).status_code == 200


@pytest.mark.ops_settings(ops_login_ip_max_attempts=4)
async def test_bearer_guesses_with_rotating_agents_lock_the_ip(client: httpx.AsyncClient) -> None:
    for n in range(4):
        guess = await client.get(STATUS, headers=bearer("guess", agent=f"script {n}"))
        assert guess.status_code == 401
    refused = await client.get(STATUS, headers=bearer(SECRET, agent="script 99"))
    assert refused.status_code == 429


async def test_a_session_signed_in_before_the_lock_keeps_working(
        client: httpx.AsyncClient) -> None:
    cookie = (await login(client)).cookies[COOKIE]
    client.cookies.clear()
    for n in range(6):
        assert (await client.get(STATUS, headers=bearer(f"guess-{n}"))).status_code == 401
    kept = await client.get(STATUS, headers={**BROWSER, "Cookie": f"{COOKIE}={cookie}"})
    assert kept.status_code == 200  # signed, so nothing to guess; the lock stops guessing


async def test_ws_ops_bearer_guesses_count_and_a_locked_client_is_closed(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    async with serve(app) as server:
        async def open_ops(secret: str) -> int | None:
            """The close code /ws/ops answers with; None when it opened."""
            try:
                ws = await connect(server.ws_url("/ws/ops"), user_agent_header=None,
                                   additional_headers=bearer(secret), compression=None,
                                   open_timeout=10)
            except ConnectionClosed as exc:  # pragma: no cover - closed during the handshake
                return exc.rcvd.code if exc.rcvd else None
            try:
                first = await ws.recv()
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
            finally:
                await ws.close()
            assert "subscribed" in str(first)
            return None

        assert await open_ops(SECRET) is None
        for n in range(6):
            assert await open_ops(f"guess-{n}") == 4401  # no token either: refused
        assert await open_ops(SECRET) == 4429
        assert (await login(client)).status_code == 429  # same counters as sign-in
    assert await metric(client, "rooms_ops_auth_failures_total", via="ws") == 6
    assert await metric(client, "rooms_ops_locked_refusals_total", via="ws") == 1
