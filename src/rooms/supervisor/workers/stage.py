"""all_in_stage: everything the streams are doing, in one `stage` frame per tick (seed 000).

    {"topic": "stage", "event": "stage", "session", "seq", "interval_s",
     "noise": {...} | null, "analysis": {...} | null, "probe": {...} | null,
     "beacons": {STREAM_ID: {...}}, "ts"}

Disabled by default (the seed's commented template); enable it in the worker table. While
its client threshold holds it listens in process (so it is nobody's audience, and attaches
no stream) to `noise_metadata`, `topic1`, `discovery_probe`, `beacons` and `commons`, and
every STAGE_INTERVAL_S (1 s) publishes one frame with the latest of each source as it was
published (its `topic` key left out): `noise` the last `noise_meta` (heard on its topic or,
for a noise stream merged into the commons, there), `analysis` the last topic1 `summary`,
`probe` the last probe, `beacons` the last beacon of each stream (the commons' own under
`commons`). A source not heard since the run started is null (`beacons` empty). `seq`
counts frames from 0 within a run (`session`), so a room page subscribes to `stage` alone.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from rooms.kit.times import now_iso
from rooms.supervisor.context import WorkerContext

TOPIC = "stage"
SOURCES = ("noise_metadata", "topic1", "discovery_probe", "beacons", "commons")


class Latest:
    """The latest event of each source, as it was published (without its `topic`)."""

    def __init__(self) -> None:
        self.noise: dict[str, Any] | None = None
        self.analysis: dict[str, Any] | None = None
        self.probe: dict[str, Any] | None = None
        self.beacons: dict[str, dict[str, Any]] = {}

    def hear(self, data: dict[str, Any]) -> None:
        topic = data.pop("topic", None)
        kind = data.get("event")
        if topic in ("noise_metadata", "commons") and kind == "noise_meta":
            self.noise = data
        elif topic == "topic1" and kind == "summary":
            self.analysis = data
        elif topic == "discovery_probe" and kind == "probe":
            self.probe = data
        elif topic == "beacons" and isinstance(data.get("stream_id"), str):
            self.beacons[data["stream_id"]] = data

    def frame(self, *, session: str, seq: int, interval_s: float) -> dict[str, Any]:
        return {"event": "stage", "session": session, "seq": seq, "interval_s": interval_s,
                "noise": self.noise, "analysis": self.analysis, "probe": self.probe,
                "beacons": dict(self.beacons), "ts": now_iso()}


async def run(ctx: WorkerContext) -> None:
    interval = ctx.settings.stage_interval_s
    session = uuid.UUID(int=ctx.rng.getrandbits(128)).hex[:12]
    latest = Latest()
    async with ctx.hub.subscribe(*SOURCES) as sub, asyncio.TaskGroup() as tg:

        async def listen() -> None:
            async for event in sub.events():
                latest.hear(event.data())

        tg.create_task(listen())
        seq = 0
        while True:
            ctx.heartbeat()
            await ctx.sleep(interval)
            await asyncio.sleep(0)  # let what arrived meanwhile be heard first
            await ctx.publish(TOPIC, latest.frame(session=session, seq=seq, interval_s=interval))
            seq += 1
