"""Seed 002's named test: idle -> seeking_low -> seeking_escalate -> attached, and back when
the listener leaves (a listener-sim that exits, or one whose hold expires)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.live.hub import Hub
from rooms.streams.listener_sim import Listener, run
from tests.conftest import make_settings
from tests.streams.streamkit import CONFIG, Clock, file_store, stream, ticks


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(settings=make_settings(tmp_path), redis=None) as h:
        yield h


async def test_a_lonely_stream_seeks_escalates_and_attaches(hub: Hub, tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock)
    s = stream(hub, store, clock)
    await ticks(s, clock, 11)
    assert s.seeker.state == "idle"
    low = await ticks(s, clock, 18)  # to t=29
    assert s.seeker.state == "seeking_low" and low[0][0] == 13  # lonely since t=1
    assert {b["state"] for _, b in low} == {"seeking_low"}
    escalate = await ticks(s, clock, 10)
    assert {b["state"] for _, b in escalate} == {"seeking_escalate"}
    async with hub.connection() as client:  # a real client on the stream's topic
        client.join("noise_metadata")
        assert await ticks(s, clock, 20) == []
        assert s.seeker.state == "attached"
    assert s.seeker.delivered == 20


async def test_a_listener_sim_that_exits_lets_the_stream_seek_again(hub: Hub,
                                                                   tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock)
    s = stream(hub, store, clock)
    await ticks(s, clock, 13)  # the first beacon
    listener = Listener("listener-1", store)
    await run(listener, poll_s=0, rounds=1)  # answers it, then exits (and leaves)
    assert await store.subscriptions() == {}
    assert s.seeker.state == "seeking_low"
    # While it holds the stream, the stream is attached; once it has gone, lonely again.
    assert await listener.round() == "noise_metadata"
    assert await ticks(s, clock, 30) == [] and s.seeker.state == "attached"
    await listener.leave()
    left_at = clock.t
    again = await ticks(s, clock, CONFIG.lonely_after_s + 1)  # + one tick of the stream's
    assert again and again[0][1]["state"] == "seeking_low"
    assert again[0][0] - left_at <= CONFIG.lonely_after_s + 1


async def test_a_hold_not_renewed_expires_and_the_stream_seeks_again(hub: Hub,
                                                                    tmp_path: Path) -> None:
    clock = Clock()
    store = file_store(tmp_path, clock, ttl_s=60)
    s = stream(hub, store, clock)
    await ticks(s, clock, 13)
    listener = Listener("listener-1", store)
    assert await listener.round() == "noise_metadata"
    await ticks(s, clock, 50)
    await listener.round()  # renewed at t=63: holds until t=123
    assert await ticks(s, clock, 59) == [] and s.seeker.state == "attached"
    # the listener died without a word: nobody renews
    beacons = await ticks(s, clock, 2 + CONFIG.lonely_after_s)
    assert await store.holders("noise_metadata") == []
    assert beacons and beacons[0][1]["state"] == "seeking_low"
