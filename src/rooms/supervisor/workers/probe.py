"""discovery_probe: sparse presence pulses on the `discovery_probe` topic (seed 000).

    {"topic": "discovery_probe", "event": "probe", "session": "3f2a9c1d0b7e",
     "ts": "2026-11-23T12:00:00Z", "seq": 0}

One every PROBE_MIN_INTERVAL..PROBE_MAX_INTERVAL seconds (5-15), each gap moved by up to
±PROBE_JITTER and never below the minimum. `session` is new for every run of the worker.
"""

from __future__ import annotations

import uuid

from rooms.kit.times import now_iso
from rooms.supervisor.context import WorkerContext

TOPIC = "discovery_probe"


def next_gap(ctx: WorkerContext) -> float:
    s = ctx.settings
    gap = ctx.rng.uniform(s.probe_min_interval, s.probe_max_interval)
    gap += ctx.rng.uniform(-s.probe_jitter, s.probe_jitter)
    return min(max(gap, s.probe_min_interval), s.probe_max_interval + s.probe_jitter)


async def run(ctx: WorkerContext) -> None:
    session = uuid.UUID(int=ctx.rng.getrandbits(128)).hex[:12]
    seq = 0
    while True:
        ctx.heartbeat()
        await ctx.sleep(next_gap(ctx))
        await ctx.publish(TOPIC, {"event": "probe", "session": session,
                                  "ts": now_iso(),
                                  "seq": seq})
        seq += 1
