"""topic1_worker and analysis_phase on a real hub, with waits that take no time."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms.live.hub import Hub
from rooms.streams.files import read_recent
from rooms.streams.listener_sim import Listener
from rooms.streams.noise import MARKOV_CORPUS
from rooms.streams.store import FileSeekStore
from rooms.supervisor.context import WorkerContext
from rooms.supervisor.workers import analysis, noise, topic1
from tests.conftest import make_settings
from tests.live.conftest import until


class Instant(WorkerContext):
    """A context whose sleeps return at once (the virtual time is added up)."""

    slept: float = 0.0

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = make_settings(tmp_path, analysis_window_s=30.0, analysis_summary_interval=10.0)
    async with Hub(settings=settings, redis=None) as h:
        yield h


def context(hub: Hub, name: str, clock: Any = lambda: 0.0) -> Instant:
    return Instant(name=name, settings=hub.settings, hub=hub, clock=clock, beat=lambda: None,
                   rng=random.Random(7))


async def test_topic1_creates_and_later_deletes_each_item(hub: Hub) -> None:
    events: list[dict[str, Any]] = []
    ctx = context(hub, "topic1_worker")
    async with hub.subscribe("topic1") as sub, asyncio.TaskGroup() as tg:
        worker = tg.create_task(topic1.run(ctx))
        async for event in sub.events():
            events.append(event.data())
            if len(events) == 200:
                worker.cancel()
                break
    alive: set[str] = set()
    for event in events:
        assert event["topic"] == "topic1" and event["ts"].endswith("Z")
        if event["event"] == "create":
            assert event["id"] not in alive
            alive.add(event["id"])
        else:
            assert event["event"] == "delete" and event["id"] in alive
            alive.remove(event["id"])
        assert len(alive) <= topic1.MAX_LIVE
    creates = sum(e["event"] == "create" for e in events)
    # ~1 create per 2 s on average (1-3 s gaps): the virtual time the worker waited agrees.
    assert 1.0 * creates <= ctx.slept <= 3.0 * creates + topic1.LIFETIME_S[1]


async def test_analysis_summarises_the_window_it_heard(hub: Hub) -> None:
    now = [100.0]
    ctx = context(hub, "analysis_phase", clock=lambda: now[0])
    summaries: list[dict[str, Any]] = []
    gate = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:  # a summary only when the test says so
        await gate.wait()
        gate.clear()

    ctx.sleep = slow_sleep  # type: ignore[method-assign]
    async with hub.subscribe("topic1") as sub, asyncio.TaskGroup() as tg:
        worker = tg.create_task(analysis.run(ctx))
        await until(lambda: hub.receivers("topic1") == 2, what="the worker to listen")

        async def emit(kind: str, at: float) -> None:
            now[0] = at
            await hub.publish("topic1", {"event": kind, "id": "x", "ts": "t"})
            await asyncio.sleep(0)

        async def summary(at: float) -> dict[str, Any]:
            now[0] = at
            gate.set()
            async for event in sub.events():
                data = event.data()
                if data.get("event") == "summary":
                    return data
            raise AssertionError("no summary")

        for at in (100.0, 101.0, 102.0):
            await emit("create", at)
        await emit("delete", 110.0)
        summaries.append(await summary(111.0))
        summaries.append(await summary(131.5))  # the first two creates are > 30 s old
        worker.cancel()
    assert summaries[0] == {"topic": "topic1", "event": "summary", "window_s": 30.0,
                            "summary_interval_s": 10.0, "creates": 3, "deletes": 1,
                            "live": 2, "ts": summaries[0]["ts"]}
    assert (summaries[1]["creates"], summaries[1]["deletes"], summaries[1]["live"]) == (1, 1, 0)


@pytest.mark.parametrize(("mode", "disable", "tokens"), [
    ("words", None, True), ("markov", None, True), ("bytes", None, False),
    ("words", "1", False)])
async def test_noise_metadata_events(tmp_path: Path, mode: str, disable: str | None,
                                     tokens: bool) -> None:
    settings = make_settings(tmp_path, noise_mode=mode, noise_disable_token_ent=disable)
    async with Hub(settings=settings, redis=None) as hub:
        ctx = context(hub, "noise_metadata")
        seen: list[dict[str, Any]] = []
        async with hub.subscribe("noise_metadata") as sub:
            async with asyncio.TaskGroup() as tg:
                worker = tg.create_task(noise.run(ctx))
                async for event in sub.events():
                    seen.append(event.data())
                    if len(seen) == 4:
                        worker.cancel()
                        break
            stop = await anext(aiter(sub.events()))  # published as the run ends
    start, metas = seen[0], seen[1:]
    assert start["event"] == "noise_start" and start["mode"] == mode
    assert start["entropy_bits"] == 128 and len(start["session"]) == 12
    for meta in metas:
        assert meta["event"] == "noise_meta" and meta["session"] == start["session"]
        assert 0.8 <= meta["interval_s"] <= 2.4 and meta["band"] in ("hf", "mf", "lf")
        assert meta["char_len"] == len(meta["text"]) and meta["ts"].endswith("Z")
        assert ("token_count" in meta) is tokens
        if tokens:
            assert meta["token_count"] == len(meta["text"].split())
    assert stop.data()["event"] == "noise_stop"
    assert stop.data()["session"] == start["session"]


async def test_a_lonely_noise_stream_beacons_until_a_listener_answers(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, noise_min_interval=0.2, noise_max_interval=0.2,
                             noise_seek_lonely_after_s=1, noise_seek_escalate_after_s=2,
                             noise_seek_beacon_interval_low_s=0.5,
                             noise_seek_beacon_interval_esc_s=0.3)
    beacon_file = tmp_path / "runtime" / "beacons.jsonl"
    subscriptions = tmp_path / "runtime" / "subscriptions.json"
    async with Hub(settings=settings, redis=None) as hub:
        ctx = context(hub, "noise_metadata")
        ctx.clock = lambda: ctx.slept  # the worker's own (virtual) time
        async with hub.subscribe("beacons") as sub, asyncio.TaskGroup() as tg:
            worker = tg.create_task(noise.run(ctx))
            beacons = []
            async for event in sub.events():
                beacons.append(event.data())
                if beacons[-1]["state"] == "seeking_escalate":
                    break
            assert beacons[0]["state"] == "seeking_low" and beacons[0]["seq"] >= 5
            store = FileSeekStore(beacon_file, subscriptions)
            assert await Listener("listener-1", store).round() == "noise_metadata"

            async def ticks(n: int) -> None:
                until_s = ctx.slept + 0.2 * n
                while ctx.slept < until_s:
                    await asyncio.sleep(0)

            await ticks(2)  # a tick under way may still have beaconed
            settled = len(read_recent(beacon_file))
            await ticks(15)  # attached now: 3 s of the worker's time without a beacon
            worker.cancel()
    written = read_recent(beacon_file)
    assert len(written) == settled
    assert [b["beacon_n"] for b in written][:len(beacons)] == [b["beacon_n"] for b in beacons]
    assert written[-1]["stream_id"] == "noise_metadata" and written[-1]["tokens_hint"]
    corpus = set(MARKOV_CORPUS.split())  # the stream's Markov token set (no NOISE_WORDSET)
    for beacon in written:
        assert set(beacon["spore"].split()) <= corpus and beacon["spore"]
        assert set(beacon["tokens_hint"]) <= corpus
