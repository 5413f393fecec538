"""analysis_phase: a sliding window over topic1's creates and deletes, summarised (seed 000).

    {"topic": "topic1", "event": "summary", "window_s": 30.0, "summary_interval_s": 10.0,
     "creates": N, "deletes": M, "live": N - M, "ts": "2026-11-23T12:00:00Z"}

Every ANALYSIS_SUMMARY_INTERVAL seconds (10) it counts the events of the last
ANALYSIS_WINDOW_S seconds (30) it heard on `topic1` (as an in-process subscriber, so it
works the same when topic1_worker runs on another process). Its own summaries are ignored.
"""

from __future__ import annotations

import asyncio
from collections import deque

from rooms.kit.times import now_iso
from rooms.supervisor.context import WorkerContext

TOPIC = "topic1"


class Window:
    """Event times of the last `window_s` seconds, by kind."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.creates: deque[float] = deque()
        self.deletes: deque[float] = deque()

    def add(self, event: str, at: float) -> None:
        if event == "create":
            self.creates.append(at)
        elif event == "delete":
            self.deletes.append(at)

    def counts(self, now: float) -> tuple[int, int]:
        for times in (self.creates, self.deletes):
            while times and times[0] <= now - self.window_s:
                times.popleft()
        return len(self.creates), len(self.deletes)


async def run(ctx: WorkerContext) -> None:
    s = ctx.settings
    window = Window(s.analysis_window_s)
    async with ctx.hub.subscribe(TOPIC) as sub, asyncio.TaskGroup() as tg:

        async def listen() -> None:
            async for event in sub.events():
                data = event.data()
                window.add(str(data.get("event")), ctx.clock())

        tg.create_task(listen())
        while True:
            ctx.heartbeat()
            await ctx.sleep(s.analysis_summary_interval)
            creates, deletes = window.counts(ctx.clock())
            await ctx.publish(TOPIC, {
                "event": "summary", "window_s": float(s.analysis_window_s),
                "summary_interval_s": float(s.analysis_summary_interval),
                "creates": creates, "deletes": deletes, "live": creates - deletes,
                "ts": now_iso()})
