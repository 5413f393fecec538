"""The stream leader's Redis lock (services tier: a real Redis; a manual clock for the lease).

Two api apps in this process on one Redis stand in for two processes where the behaviour
seen from outside (/health, the operator's worker list and restart) is the subject;
tests/production/test_cluster.py kills real processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from rooms.app import create_app
from rooms.config import Settings
from rooms.resources import Resources
from rooms.supervisor.leader import LOCK_KEY, LeaderLock
from tests.conftest import make_settings
from tests.live.conftest import until

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)

TTL = 9.0
APP_TTL = 4.0  # in-process apps share one loop: starting one stalls the other


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def test_one_leader_renewing_every_third_of_the_ttl(redis: Redis) -> None:
    clock = Clock()
    a = LeaderLock(redis, token="a", ttl_s=TTL, clock=clock)
    b = LeaderLock(redis, token="b", ttl_s=TTL, clock=clock)
    assert await a.step() is True
    assert await b.step() is False
    assert a.wait_s() == pytest.approx(TTL / 3)
    assert 0 < b.wait_s() <= TTL / 3  # the follower looks again when the key could expire
    clock.now += TTL / 3
    assert await a.step() is True and a.renewed_at == clock.now
    assert 8000 < await redis.pttl(LOCK_KEY) <= 9000  # the renewal restarted the key's TTL
    assert await b.step() is False


async def test_a_cut_off_leader_fences_itself_before_anyone_can_take_over(
        redis: Redis, settings: Settings) -> None:
    clock = Clock()
    a = LeaderLock(redis, token="a", ttl_s=TTL, clock=clock)
    b = LeaderLock(redis, token="b", ttl_s=TTL, clock=clock)
    assert await a.step()
    # The leader loses Redis (nothing listens on this port): its renewals fail.
    cut_off = Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.5)
    a.redis = cut_off
    try:
        clock.now += TTL / 3
        assert await a.step() is True  # one failed renewal: the lease still holds
        clock.now += TTL / 2 - TTL / 3 - 0.01
        assert a.fence() is True
        clock.now += 0.01  # TTL/2 since the last renewal was sent
        assert await a.step() is False
    finally:
        await cut_off.aclose()
    # ...while its key still lives in Redis: no follower can have started workers yet.
    assert await redis.get(LOCK_KEY) == b"a"
    assert await b.step() is False


async def test_a_renewal_that_finds_the_lock_taken_steps_down(redis: Redis) -> None:
    clock = Clock()
    a = LeaderLock(redis, token="a", ttl_s=TTL, clock=clock)
    assert await a.step()
    await redis.set(LOCK_KEY, "b", px=9000)  # the key expired and b took it meanwhile
    assert await a.step() is False
    assert await redis.get(LOCK_KEY) == b"b"


async def test_a_follower_takes_over_within_the_ttl_when_the_leader_dies(redis: Redis) -> None:
    ttl = 0.6
    a = LeaderLock(redis, token="a", ttl_s=ttl)
    b = LeaderLock(redis, token="b", ttl_s=ttl)
    assert await a.step()
    died = time.monotonic()  # a never renews again
    while not await b.step():
        await asyncio.sleep(b.wait_s())
        assert time.monotonic() - died < ttl + 0.5
    assert time.monotonic() - died <= ttl + 0.2


async def test_a_leader_that_fenced_itself_takes_its_own_lock_back(redis: Redis) -> None:
    clock = Clock()
    a = LeaderLock(redis, token="a", ttl_s=TTL, clock=clock)
    b = LeaderLock(redis, token="b", ttl_s=TTL, clock=clock)
    assert await a.step()
    clock.now += TTL / 2  # no renewal for TTL/2 (a stalled loop): fenced
    assert a.fence() is False
    assert await a.step() is True  # the key is still its own: no TTL-long gap
    assert await b.step() is False


async def test_a_clean_release_hands_over_at_once(redis: Redis) -> None:
    a = LeaderLock(redis, token="a", ttl_s=TTL)
    b = LeaderLock(redis, token="b", ttl_s=TTL)
    assert await a.step()
    await a.release()
    assert await b.step() is True
    await a.release()  # no longer ours: never deletes b's lock
    assert await redis.get(LOCK_KEY) == b"b"


# --- two api apps on one Redis ---------------------------------------------------------------

async def _open_app(settings: Settings, root: Path, stack: AsyncExitStack,
                    **extra: Any) -> tuple[FastAPI, httpx.AsyncClient]:
    """An api app on the tier's PostgreSQL, Redis and S3, with a short leader TTL."""
    root.mkdir()
    shared = {k: getattr(settings, k) for k in (
        "database_url", "redis_url", "blob_store_url", "s3_endpoint_url", "s3_access_key",
        "s3_secret_key", "s3_region")}
    app = create_app(make_settings(root, **shared, leader_ttl_s=APP_TTL, **extra))
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver",
        headers={"Authorization": "Bearer ops-test-secret"}))
    return app, client


def _res(app: FastAPI) -> Resources:
    res: Resources = app.state.rooms
    return res


async def test_only_the_leader_runs_workers_and_every_process_reports_them(
        settings: Settings, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        app1, _ = await _open_app(settings, tmp_path / "one", stack)
        app2, c2 = await _open_app(settings, tmp_path / "two", stack)
        r1, r2 = _res(app1), _res(app2)
        sup1, sup2 = r1.supervisor, r2.supervisor
        assert sup1 is not None and sup2 is not None
        assert r1.streams.leading and not r2.streams.leading
        await until(lambda: sup1.workers()["topic1_worker"]["state"] == "running")
        assert sup2.workers()["topic1_worker"]["reason"] == "not_leader"

        # /health on the follower shows the leader's workers, not its own idle ones
        async def follower_sees_running() -> bool:
            body: dict[str, Any] = (await c2.get("/health")).json()
            return bool(body["workers"]["topic1_worker"]["state"] == "running")
        await until_async(follower_sees_running)
        ready = (await c2.get("/readyz")).json()["checks"]["supervisor"]
        assert ready["state"] == "running"

        # a restart asked on the follower happens on the leader
        before = sup1.slots["topic1_worker"].task
        response = await c2.post("/api/v1/operator/workers/topic1_worker/restart")
        assert response.status_code == 200, response.text
        await until(lambda: sup1.slots["topic1_worker"].task not in (None, before))
        missing = await c2.post("/api/v1/operator/workers/no_such_worker/restart")
        assert missing.status_code == 404


async def test_the_follower_takes_over_when_the_leader_shuts_down(
        settings: Settings, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        first = AsyncExitStack()
        app1, _ = await _open_app(settings, tmp_path / "one", first)
        app2, _ = await _open_app(settings, tmp_path / "two", stack)
        r2 = _res(app2)
        assert _res(app1).streams.leading and not r2.streams.leading
        await first.aclose()  # a clean stop releases the lock
        started = time.monotonic()
        await until(lambda: r2.streams.leading)
        assert time.monotonic() - started <= APP_TTL  # within LEADER_TTL_S
        sup2 = r2.supervisor
        assert sup2 is not None
        await until(lambda: sup2.workers()["topic1_worker"]["state"] == "running")


async def until_async(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
