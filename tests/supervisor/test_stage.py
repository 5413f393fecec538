"""all_in_stage: one `stage` frame per tick with the latest of every source."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from rooms.live.hub import Hub
from rooms.supervisor import Supervisor
from rooms.supervisor.context import WorkerContext
from rooms.supervisor.spec import SEED_TASKS, TaskSpec
from rooms.supervisor.workers import OWN_STREAMS, TOPICS, WORKERS, stage, tempo_range_s
from tests.conftest import make_settings
from tests.live.conftest import until


class Stepped(WorkerContext):
    """A context whose every sleep waits for the test to call `step()`."""

    gate: asyncio.Queue[None]

    async def sleep(self, seconds: float) -> None:
        await self.gate.get()

    def step(self) -> None:
        self.gate.put_nowait(None)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Hub(settings=make_settings(tmp_path), redis=None) as h:
        yield h


async def frame(sub: Any) -> dict[str, Any]:
    async with asyncio.timeout(10):
        event = await anext(aiter(sub.events()))
    data: dict[str, Any] = event.data()
    return data


async def test_stage_frames_carry_the_latest_of_each_source(hub: Hub) -> None:
    ctx = Stepped(name="all_in_stage", settings=hub.settings, hub=hub, clock=lambda: 0.0,
                  beat=lambda: None, rng=random.Random(1))
    ctx.gate = asyncio.Queue()
    async with hub.subscribe("stage") as sub, asyncio.TaskGroup() as tg:
        worker = tg.create_task(stage.run(ctx))
        await until(lambda: hub.receivers("beacons") == 1)  # the worker listens now
        ctx.step()
        empty = await frame(sub)
        assert (empty["noise"], empty["analysis"], empty["probe"], empty["beacons"]) == (
            None, None, None, {}) and empty["seq"] == 0
        await hub.publish("noise_metadata", {"event": "noise_meta", "text": "flux echo"})
        await hub.publish("noise_metadata", {"event": "noise_meta", "text": "ion shard"})
        await hub.publish("topic1", {"event": "summary", "creates": 3, "live": 2})
        await hub.publish("topic1", {"event": "create", "id": "ab"})  # not analysis
        await hub.publish("discovery_probe", {"event": "probe", "seq": 4})
        await hub.publish("beacons", {"stream_id": "noise_metadata", "state": "seeking_low"})
        await hub.publish("beacons", {"stream_id": "commons", "state": "seeking_escalate"})
        await hub.publish("beacons", {"stream_id": "noise_metadata", "state": "seeking_escalate"})
        ctx.step()
        full = await frame(sub)
        assert full["seq"] == 1 and full["session"] == empty["session"]
        assert full["noise"] == {"event": "noise_meta", "text": "ion shard"}
        assert full["analysis"] == {"event": "summary", "creates": 3, "live": 2}
        assert full["probe"] == {"event": "probe", "seq": 4}
        assert full["beacons"] == {
            "noise_metadata": {"stream_id": "noise_metadata", "state": "seeking_escalate"},
            "commons": {"stream_id": "commons", "state": "seeking_escalate"}}
        await hub.publish("commons", {"event": "noise_meta", "stream": "x", "text": "zenith"})
        ctx.step()
        assert (await frame(sub))["noise"]["text"] == "zenith"  # a merged stream's tick
        worker.cancel()
    assert hub.counts()["noise_metadata"] == 0  # it listened as nobody's audience


async def test_enabled_in_the_table_it_runs_beside_every_worker(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, stage_interval_s=0.05)
    specs = [s if s.name != "all_in_stage" else TaskSpec(name="all_in_stage")
             for s in SEED_TASKS]
    async with Hub(settings=settings, redis=None) as hub, \
            Supervisor(settings=settings, hub=hub, specs=specs, workers=WORKERS, topics=TOPICS,
                       own_streams=OWN_STREAMS, tempo=tempo_range_s) as sup, \
            hub.connection() as client:
        client.join("stage")
        await until(lambda: sup.workers()["all_in_stage"]["state"] == "running")
        assert sup.workers()["all_in_stage"]["reason"] is None
        texts = []
        async with asyncio.timeout(10):
            while len(texts) < 3:
                if (text := client.next_text()) is None:
                    waiter = client.waiter()
                    if waiter is not None:
                        await waiter
                    continue
                texts.append(json.loads(text))
        first = texts[0]["seq"]  # (the client may have joined after the first frame)
        assert [f["seq"] for f in texts] == [first, first + 1, first + 2]
        assert texts[0]["topic"] == "stage"
