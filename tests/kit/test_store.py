"""The shared store's contract, the same in memory (embedded) and in Redis (services)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from limits import RateLimitItemPerSecond
from redis.asyncio import Redis

from rooms.config import Settings
from rooms.kit.ratelimit import RateLimiter
from rooms.kit.store import MemoryStore, Store, make_store


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    if not settings.redis_url:
        yield MemoryStore()
        return
    redis = Redis.from_url(settings.redis_url)
    try:
        yield make_store(redis, settings.redis_url)
    finally:
        await redis.aclose()


async def test_counters_flags_and_values(store: Store) -> None:
    assert [await store.incr("t:count", 60) for _ in range(3)] == [1, 2, 3]
    assert await store.add("t:flag", 60) is True
    assert await store.add("t:flag", 60) is False
    assert await store.get("t:missing") is None
    await store.set("t:value", "1234.5", 60)
    assert await store.get("t:value") == "1234.5"
    await store.delete("t:value")
    await store.delete("t:count")
    assert await store.get("t:value") is None
    assert await store.incr("t:count", 60) == 1


async def test_keys_expire() -> None:
    now = [1_000.0]
    store = MemoryStore(clock=lambda: now[0])
    await store.set("v", "x", 10)
    assert await store.add("f", 10)
    assert await store.incr("c", 10) == 1
    now[0] += 10.5
    assert await store.get("v") is None
    assert await store.add("f", 10)
    assert await store.incr("c", 10) == 1


async def test_a_moving_window_budget(store: Store) -> None:
    limiter = RateLimiter(store)
    assert [await limiter.hit("t", "kiosk", 2, 3600) for _ in range(3)] == [True, True, False]
    budget = await limiter.peek("t", "kiosk", 2, 3600)
    assert (budget.limit, budget.remaining, budget.window_s) == (2, 0, 3600)
    assert 3590 <= budget.reset_in_s <= 3600  # when the oldest hit leaves the window
    fresh = await limiter.peek("t", "other", 2, 3600)
    assert (fresh.remaining, fresh.reset_in_s) == (2, 3600)
    item = RateLimitItemPerSecond(2, 3600)
    assert (await store.window(item, "t", "never")).remaining == 2
    assert time.time() < (await store.window(item, "t", "never")).reset_time <= time.time() + 3600
