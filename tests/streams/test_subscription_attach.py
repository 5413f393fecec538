"""Seed 002's named test: a listener's hold attaches the stream; holds expire unless renewed.

Both stores: the files (embedded tier) and Redis (services tier), each listener's hold with
its own TTL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.streams.listener_sim import Listener
from rooms.streams.store import FileSeekStore, RedisSeekStore, SeekStore
from tests.streams.streamkit import Clock, stream, ticks


@pytest.fixture
async def seek(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[SeekStore, Clock]]:
    clock = Clock()
    if not settings.redis_url:
        yield FileSeekStore(tmp_path / "b.jsonl", tmp_path / "s.json", ttl_s=60,
                            wall=clock.wall), clock
        return
    redis = Redis.from_url(settings.redis_url)
    try:
        yield RedisSeekStore(redis, ttl_s=60, wall=clock.wall), clock
    finally:
        await redis.aclose()


async def test_a_held_stream_is_attached_and_stops_beaconing(
        seek: tuple[SeekStore, Clock], settings: Settings) -> None:
    store, clock = seek
    async with Hub(settings=settings, redis=None) as hub:
        s = stream(hub, store, clock)
        first = await ticks(s, clock, 15)
        assert [b["state"] for _, b in first] == ["seeking_low"]
        assert await Listener("listener-1", store).round() == "noise_metadata"
        assert await store.holders("noise_metadata") == ["listener-1"]
        assert await ticks(s, clock, 40) == [] and s.seeker.state == "attached"
        assert [b["beacon_n"] for b in await store.recent_beacons(10)] == [1]


async def test_each_hold_expires_on_its_own_unless_renewed(
        seek: tuple[SeekStore, Clock]) -> None:
    store, clock = seek
    await store.subscribe("a", "l-1")
    clock.t += 30
    await store.subscribe("a", "l-2")
    await store.subscribe("b", "l-1")
    assert await store.subscriptions() == {"a": ["l-1", "l-2"], "b": ["l-1"]}
    clock.t += 31  # l-1's hold on a is 61 s old; the others 31 s
    assert await store.subscriptions() == {"a": ["l-2"], "b": ["l-1"]}
    assert await store.renew("l-1") == ["b"]  # an expired hold is not brought back
    clock.t += 45
    assert await store.subscriptions() == {"b": ["l-1"]}
    await store.unsubscribe("l-1")
    assert await store.subscriptions() == {}


def test_a_seed_era_file_without_expiries_holds_for_one_ttl(tmp_path: Path) -> None:
    import asyncio
    import os

    path = tmp_path / "s.json"
    path.write_text('{"noise_metadata": ["listener-1"]}')
    os.utime(path, (1000.0, 1000.0))
    now = [1030.0]
    store = FileSeekStore(tmp_path / "b.jsonl", path, ttl_s=60, wall=lambda: now[0])
    assert asyncio.run(store.holders("noise_metadata")) == ["listener-1"]
    now[0] = 1061.0
    assert asyncio.run(store.holders("noise_metadata")) == []
