"""Seed 002's named test: a stream ticking fast beacons no faster than its state allows."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.live.hub import Hub
from rooms.streams.store import FileSeekStore
from tests.conftest import make_settings
from tests.streams.streamkit import CONFIG, Clock, drain, file_store, stream, ticks


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(settings=make_settings(tmp_path), redis=None) as h:
        yield h


async def test_beacons_keep_their_interval_however_fast_the_stream_ticks(
        hub: Hub, tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock)
    s = stream(hub, store, clock)
    async with hub.subscribe("beacons") as heard:
        sent = await ticks(s, clock, 60, step=0.1)  # ten ticks a second for a minute
        low = [t for t, b in sent if b["state"] == "seeking_low"]
        esc = [t for t, b in sent if b["state"] == "seeking_escalate"]
        for times, interval in ((low, CONFIG.beacon_interval_low_s),
                                (esc, CONFIG.beacon_interval_esc_s)):
            assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(times))
        assert len(low) == 2 and len(esc) == 6  # 12-30 s every 10 s; 30-60 s every 5 s
        assert [b["beacon_n"] for _, b in sent] == list(range(1, 9))
        # each one on the `beacons` topic too
        assert drain(heard) == [{"topic": "beacons", **b} for _, b in sent]
    written = await store.recent_beacons(100)
    assert [b["beacon_n"] for b in written] == list(range(1, 9))
    assert all(b["stream_topic"] == "noise_metadata" and b["commons"] is False for b in written)


def test_the_store_reads_the_subscriptions_file_only_when_it_changed(tmp_path: Path) -> None:
    import asyncio

    clock = Clock()
    store = file_store(tmp_path, clock)
    writer = FileSeekStore(store.beacon_path, store.subscriptions_path, wall=clock.wall)

    async def main() -> None:
        assert await store.holders("noise_metadata") == [] and store.reads == 0
        await writer.subscribe("noise_metadata", "l-1")
        for _ in range(50):  # a tick each
            assert await store.holders("noise_metadata") == ["l-1"]
        assert store.reads == 1
        await writer.subscribe("noise_metadata", "l-2")
        assert sorted(await store.holders("noise_metadata")) == ["l-1", "l-2"]
        assert store.reads == 2

    asyncio.run(main())
