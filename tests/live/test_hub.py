"""The hub in process: fan-out, drop-oldest, counts and their change notification."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fastapi import FastAPI

from rooms.config import Settings
from rooms.live import surface
from rooms.live.hub import DUTY_WINDOW_S, Hub
from rooms.live.protocol import ALL_TOPICS
from rooms.live.subscriber import Event, Subscriber
from tests.helpers import resources
from tests.live.conftest import until


@pytest.fixture
def hub(app: FastAPI) -> Hub:
    return resources(app).hub


async def test_publish_serializes_once_and_reaches_only_that_topic(hub: Hub) -> None:
    async with hub.subscribe("stage") as a, hub.subscribe("stage", "beacons") as b, \
            hub.subscribe("beacons") as c:
        await hub.publish("stage", {"event": "scene", "topic": "spoofed", "n": 1})
        first, second = a.next_text(), b.next_text()
        assert first == '{"topic":"stage","event":"scene","n":1}'
        assert first is second  # one string for every subscriber
        assert c.next_text() is None


async def test_overflow_drops_oldest_and_reports_once(settings: Settings, hub: Hub) -> None:
    size = settings.live_queue_size
    async with hub.subscribe("beacons") as sub:
        for i in range(size + 5):
            await hub.publish("beacons", {"i": i})
        assert sub.next_text() == '{"op":"lagged","dropped":5}'
        assert sub.next_text() == '{"topic":"beacons","i":5}'
        rest = [sub.next_text() for _ in range(size - 1)]
        assert rest[-1] == f'{{"topic":"beacons","i":{size + 4}}}'
        assert sub.next_text() is None
        assert sub.dropped_total == 5


async def test_an_idle_consumer_is_handed_events_directly_and_woken_only_when_needed(
        hub: Hub) -> None:
    sent: list[str] = []
    accept = True

    def send_now(message: dict[str, object]) -> bool:
        sent.append(str(message["text"]))
        return accept

    def event(n: int) -> Event:
        return Event("stage", f'{{"topic":"stage","n":{n}}}')

    async with hub.connection() as sub:
        sub.join("stage")
        sub.send_now = send_now
        waiter = sub.waiter()  # the consumer parks with nothing queued
        assert waiter is not None
        sub.put(event(1))
        sub.put(event(2))
        assert sent == ['{"topic":"stage","n":1}', '{"topic":"stage","n":2}']
        assert not waiter.done() and sub.next_text() is None  # no wake-up, nothing queued
        sub.put(event(3), direct=False)  # the hub is behind: queue it, wake the consumer
        assert waiter.done() and len(sent) == 2
        assert sub.next_text() == '{"topic":"stage","n":3}'
        waiter = sub.waiter()
        assert waiter is not None
        accept = False  # the next one cannot finish at once: the consumer must take over
        sub.put(event(4))
        assert waiter.done() and len(sent) == 3
        sub.put(event(5))  # the consumer is busy: this one queues
        assert len(sent) == 3 and sub.next_text() == '{"topic":"stage","n":5}'


def _slow_socket(sub: Subscriber, cost_s: float, sent: list[str]) -> None:
    """Make `sub` a websocket whose every write takes `cost_s` of the loop's time."""
    def send_now(message: dict[str, object]) -> bool:
        time.sleep(cost_s)
        sent.append(str(message["text"]))
        return True

    sub.send_now = send_now
    assert sub.park()


async def test_writes_that_fill_the_loop_go_to_the_queues_and_back_once_they_fit(
        hub: Hub) -> None:
    sent: list[str] = []
    async with hub.connection() as socket:
        socket.join("stage")
        _slow_socket(socket, 0.002, sent)
        assert hub.writing_directly
        deadline = time.monotonic() + 10
        n = 0
        while hub.writing_directly:  # publish back to back: writing is all the loop does
            assert time.monotonic() < deadline, "saturation was never noticed"
            await hub.publish("stage", {"n": n})
            n += 1
            await asyncio.sleep(0)
        assert len(sent) == n  # all written directly until then
        await hub.publish("stage", {"n": n})
        assert len(sent) == n and socket.next_text() == f'{{"topic":"stage","n":{n}}}'
        await until(lambda: hub.writing_directly, what="direct writes to resume")  # quiet now


async def test_a_loop_busy_with_other_work_keeps_writing_events_directly(hub: Hub) -> None:
    # Blocking work that is not event writing (a slow request) must not move events to the
    # queues, where they would cost the loop more: the switch judges the writes alone.
    sent: list[str] = []
    async with hub.connection() as socket:
        socket.join("stage")
        _slow_socket(socket, 0.0, sent)
        end = time.monotonic() + 4 * DUTY_WINDOW_S
        n = 0
        while time.monotonic() < end:
            time.sleep(0.02)  # 20 ms of other work at a time: the loop lags all along
            await hub.publish("stage", {"n": n})
            n += 1
            assert hub.writing_directly
            await asyncio.sleep(0)
        assert len(sent) == n


async def test_leaving_a_topic_discards_its_queued_events(hub: Hub) -> None:
    async with hub.connection() as sub:
        sub.join("stage", "beacons")
        await hub.publish("stage", {"n": 1})
        await hub.publish("beacons", {"n": 2})
        sub.leave("stage")
        assert sub.next_text() == '{"topic":"beacons","n":2}'
        assert sub.next_text() is None


async def test_counts_and_total(hub: Hub) -> None:
    assert hub.counts() == dict.fromkeys(ALL_TOPICS, 0) and hub.total == 0
    async with hub.connection() as one, hub.connection() as two, hub.subscribe("stage"):
        one.join("stage", "surface")
        two.join("stage")
        assert hub.total == 2  # the in-process subscriber is not a connection...
        assert hub.counts()["stage"] == 2 and hub.counts()["surface"] == 1  # ...nor audience
        two.leave("stage")
        assert hub.counts()["stage"] == 1
    assert hub.total == 0 and set(hub.counts().values()) == {0}


async def test_counts_changed_wakes_a_waiter_without_polling(hub: Hub) -> None:
    version = hub.version
    waiter = asyncio.create_task(hub.counts_changed(version))
    await asyncio.sleep(0)
    assert not waiter.done()
    async with hub.connection() as sub:
        new = await asyncio.wait_for(waiter, 5)
        assert new > version and hub.total == 1
        later = asyncio.create_task(hub.counts_changed())
        await asyncio.sleep(0)
        sub.join("commons")
        assert await asyncio.wait_for(later, 5) > new
    assert await hub.counts_changed(version) == hub.version  # already past: returns at once


async def test_in_process_subscribers_end_when_the_hub_stops(settings: Settings) -> None:
    got: list[str] = []
    async with Hub(settings=settings, redis=None) as hub:

        async def consume() -> None:
            async with hub.subscribe("commons") as sub:
                async for event in sub.events():
                    got.append(event.data()["word"])

        task = asyncio.create_task(consume())
        await asyncio.sleep(0)
        await hub.publish("commons", {"word": "hello"})
        await asyncio.sleep(0)
    await asyncio.wait_for(task, 5)
    assert got == ["hello"]
    assert hub.counts()["commons"] == 0


async def test_surface_events_tell_a_room_about_posture_and_pool(hub: Hub) -> None:
    async with hub.subscribe("surface") as sub:
        await surface.posture_changed(hub, intake_paused=True, playback_paused=False,
                                      quieter_mode=True)
        await surface.pool_changed(hub, "revoked", 42)
        posture, pool = (json.loads(sub.next_text() or "") for _ in range(2))
    assert posture == {"topic": "surface", "event": "posture", "intake_paused": True,
                       "playback_paused": False, "quieter_mode": True, "ts": posture["ts"]}
    assert pool == {"topic": "surface", "event": "pool", "change": "revoked",
                    "artifact_id": 42, "ts": pool["ts"]}
