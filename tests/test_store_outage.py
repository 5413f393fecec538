"""Redis stopped: each use of the shared store answers as the README's policy says.

Rate limits fail open to counting in this process; the lockout counts in this process;
a live token is single-use within this process, an ops token is refused (try again);
sign-outs are kept here and written to Redis when it returns. Never a 500, and the shared
state is used again as soon as Redis answers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from rooms.access.operator import COOKIE
from rooms.access.sessions import OpsSessions, binding
from rooms.kit.store import make_store
from rooms.kit.tokens import token_id
from rooms.live.tokens import USED
from tests.helpers import resources
from tests.live.conftest import live_client, serve
from tests.ops.conftest import BROWSER, SECRET, login, status
from tests.recordings.conftest import upload

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)


@contextmanager
def redis_stopped(backend: Any) -> Iterator[None]:
    if getattr(backend.redis, "external", False):
        pytest.skip("redis comes from the environment; cannot stop it")
    backend.redis.stop()
    try:
        yield
    finally:
        backend.redis.start()


def redis_back(app: FastAPI) -> None:
    """Past the store's pause after a failure, so the next call asks Redis again."""
    store: Any = resources(app).store
    store.clock = lambda: time.monotonic() + 60


@asynccontextmanager
async def other_process(app: FastAPI) -> AsyncIterator[Any]:
    """Another process's view: a store of its own on the same Redis (nothing local yet)."""
    url = resources(app).settings.redis_url
    redis = Redis.from_url(url)
    try:
        yield make_store(redis, url)
    finally:
        await redis.aclose()


async def test_uploads_fail_open_to_a_budget_counted_here(client: httpx.AsyncClient,
                                                         app: FastAPI, backend: Any) -> None:
    resources(app).settings.public_ingest_rate = "2/hour"
    assert (await upload(client)).status_code == 201  # counted in Redis
    with redis_stopped(backend):
        during = [await upload(client) for _ in range(3)]
        assert [r.status_code for r in during] == [201, 201, 429]  # this process counts
        assert during[2].json()["error"]["code"] == "ingest_budget_exceeded"
        assert int(during[2].headers["retry-after"]) > 0
    redis_back(app)
    after = [(await upload(client)).status_code for _ in range(3)]
    assert after == [201, 201, 429]  # counted in Redis again (restarted empty, so from 0)
    fallbacks = (await client.get("/metrics")).text
    assert 'rooms_store_local_fallbacks_total{op="hit"}' in fallbacks


async def test_revocation_answers_during_the_outage(client: httpx.AsyncClient, app: FastAPI,
                                                    backend: Any) -> None:
    codes = [(await upload(client)).json()["revocation_token"] for _ in range(2)]
    with redis_stopped(backend):
        revoked = await client.post("/api/v1/revoke", json={"token": codes[0]})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] == 1
        unknown = await client.post("/api/v1/revoke", json={"token": "0000-0000-0000"})
        assert unknown.status_code == 404
    redis_back(app)
    again = await client.post("/api/v1/revoke", json={"token": codes[1]})
    assert again.status_code == 200 and again.json()["revoked"] == 1


async def test_sign_in_and_sign_out_during_the_outage(client: httpx.AsyncClient,
                                                     app: FastAPI, backend: Any) -> None:
    settings = resources(app).settings
    settings.ops_login_max_attempts = 2
    guesser = {"User-Agent": "guesser"}
    before = (await login(client)).cookies[COOKIE]
    with redis_stopped(backend):
        assert (await _status_with(client, before)).status_code == 200
        signed_in = await login(client)
        assert signed_in.status_code == 303
        during = signed_in.cookies[COOKIE]
        assert (await _status_with(client, during)).status_code == 200
        for _ in range(2):
            assert (await login(client, "guess", headers=guesser)).status_code == 403
        assert (await login(client, headers=guesser)).status_code == 429  # counted here
        client.cookies.set(COOKIE, during)
        assert (await client.post("/ops/logout", headers=BROWSER)).status_code == 303
        assert (await _status_with(client, during)).status_code == 401
    redis_back(app)
    assert (await _status_with(client, during)).status_code == 401
    assert (await _status_with(client, before)).status_code == 200
    assert (await login(client, headers=guesser)).status_code == 429
    # what happened during the outage reached Redis: another process knows it too
    async with other_process(app) as store:
        sessions = OpsSessions(store)
        bound = binding(settings.ops_session_binding_mode, "", BROWSER["User-Agent"])
        assert not await sessions.valid(settings, during, bound)
        assert await sessions.valid(settings, before, bound)


async def _status_with(client: httpx.AsyncClient, cookie: str) -> httpx.Response:
    client.cookies.clear()
    return await status(client, headers={"Cookie": f"{COOKIE}={cookie}"})


async def test_live_tokens_during_the_outage(app: FastAPI, backend: Any) -> None:
    async with serve(app) as server:
        with redis_stopped(backend):
            async with httpx.AsyncClient(base_url=server.http) as http:
                minted = await http.post("/api/v1/live/token")
                assert minted.status_code == 200
            live = minted.json()["token"]
            async with live_client(server, token=live) as c:  # single use, in this process
                assert await c.request({"op": "ping"}) == {"op": "pong"}
            async with live_client(server, token=live) as again:
                assert (await again.closed())[:2] == (4401, "token already used")
            async with live_client(server, path="/ws/ops") as ops:  # fails closed
                assert (await ops.closed())[:2] == (1013, "cannot check tokens now; try again")
            bearer = {"Authorization": f"Bearer {SECRET}"}
            async with live_client(server, path="/ws/ops", mint=False, headers=bearer) as ops:
                assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
        redis_back(app)
        async with live_client(server, path="/ws/ops") as ops:
            assert await ops.recv() == {"op": "subscribed", "topics": ["ops"]}
        async with other_process(app) as store:  # the outage's used token reached Redis
            assert not await store.add(USED + token_id(live), 60)
