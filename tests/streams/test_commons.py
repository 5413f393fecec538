"""The commons (seed 002's extension): long-lonely streams merge, a listener on `commons`
attaches them all, and a stream leaves when a listener comes for it by name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rooms.live.hub import Hub
from rooms.streams.stream import Commons, Stream
from rooms.supervisor import Supervisor
from rooms.supervisor.context import WorkerContext
from rooms.supervisor.spec import TaskSpec
from tests.conftest import make_settings
from tests.streams.streamkit import CONFIG, Clock, drain, file_store, stream


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(settings=make_settings(tmp_path), redis=None) as h:
        yield h


async def both(a: Stream, b: Stream, clock: Clock, seconds: float) -> list[dict[str, object]]:
    """Tick a and b alternately each second; the beacons sent."""
    sent = []
    end = clock.t + seconds
    while clock.t < end:
        clock.t += 1
        for s in (a, b):
            beacon = await s.tick({"event": "noise_meta", "text": s.stream_id})
            if beacon is not None:
                sent.append(beacon)
    return sent


async def test_lonely_streams_merge_then_split_when_a_listener_names_one(
        hub: Hub, tmp_path: Path) -> None:
    clock, commons = Clock(), Commons()
    store = file_store(tmp_path, clock)
    a = stream(hub, store, clock, stream_id="noise_metadata", commons=commons)
    b = stream(hub, store, clock, stream_id="topic1_worker", topic="topic1", commons=commons)
    alone = await both(a, b, clock, CONFIG.shutdown_after_s + 1)
    assert {x["stream_id"] for x in alone} == {"noise_metadata", "topic1_worker"}
    assert commons.members == {"noise_metadata": "commons", "topic1_worker": "commons"}
    merged = await both(a, b, clock, 20)
    # one beacon for all, at the escalate pace, saying each member's state
    assert [x["stream_id"] for x in merged] == ["commons"] * 4
    assert merged[-1]["streams"] == {"noise_metadata": "commons", "topic1_worker": "commons"}
    assert merged[-1]["stream_topic"] == "commons" and merged[-1]["state"] == "seeking_escalate"

    async with hub.connection() as listener:
        listener.join("commons")
        assert await both(a, b, clock, 30) == []  # attached through the commons
        heard = drain(listener)
        assert [e["stream"] for e in heard[:4]] == ["noise_metadata", "topic1_worker"] * 2
        assert {e["topic"] for e in heard} == {"commons"} and len(heard) == 60
        assert commons.members == {"noise_metadata": "attached", "topic1_worker": "attached"}
        assert a.seeker.state == b.seeker.state == "attached"

        async with hub.connection() as fan:  # someone asks for topic1 itself
            fan.join("topic1")
            await both(a, b, clock, 2)
            assert commons.members == {"noise_metadata": "attached"}
            assert [e["stream"] for e in drain(listener)] == ["noise_metadata"] * 2
            assert [e["text"] for e in drain(fan)] == ["topic1_worker"] * 2
    left = await both(a, b, clock, 30)
    # the commons listener gone, noise (still merged) is in a commons beacon; topic1 beacons
    # alone again once lonely
    assert commons.members == {"noise_metadata": "commons"}
    assert {x["stream_id"] for x in left} == {"commons", "topic1_worker"}
    a.close()
    assert commons.members == {}


async def test_without_the_opt_in_a_stream_beacons_for_ever(hub: Hub, tmp_path: Path) -> None:
    clock = Clock()
    s = stream(hub, file_store(tmp_path, clock), clock)
    sent = []
    while clock.t < 200:
        clock.t += 1
        if (x := await s.tick({"event": "noise_meta"})) is not None:
            sent.append(x)
    assert sent[-1]["state"] == "seeking_escalate" and sent[-1]["commons"] is False
    assert s.seeker.shutdown_intent and not s.merged


async def test_any_worker_can_opt_in(tmp_path: Path) -> None:
    """`commons: true` in the table makes a plain worker a seeking stream that merges."""
    settings = make_settings(tmp_path, noise_seek_lonely_after_s=0,
                             noise_seek_escalate_after_s=0, noise_seek_shutdown_after_s=0,
                             noise_seek_beacon_interval_esc_s=0.05)

    async def pulse(ctx: WorkerContext) -> None:
        while True:
            await ctx.publish("topic1", {"event": "create", "id": "x"})
            await asyncio.sleep(0.01)

    specs = [TaskSpec(name="pulse", commons=True), TaskSpec(name="plain")]
    async with Hub(settings=settings, redis=None) as hub, \
            hub.subscribe("beacons", "commons") as heard, \
            Supervisor(settings=settings, hub=hub, specs=specs,
                       workers={"pulse": pulse, "plain": pulse},
                       topics={"pulse": "topic1", "plain": "topic1"}) as sup:
        seen: list[dict[str, object]] = []
        async with asyncio.timeout(10):
            async for event in heard.events():
                seen.append(event.data())
                if seen[-1].get("stream_id") == "commons":
                    break
        assert seen[-1]["streams"] == {"pulse": "commons"}  # "plain" did not opt in
        assert {"topic": "commons", "stream": "pulse", "event": "create", "id": "x"} in seen
        assert sup.commons.members == {"pulse": "commons"}
        assert sup.workers()["pulse"]["state"] == "running"
    assert sup.commons.members == {}  # its run ended: it left
