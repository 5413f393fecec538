"""topic1_worker: the seed's create/delete demo loop on the `topic1` topic.

    {"topic": "topic1", "event": "create", "id": "9f2c41d0", "ts": "2026-11-23T12:00:00Z"}
    {"topic": "topic1", "event": "delete", "id": "9f2c41d0", "ts": "..."}

Seed 000 names the loop but not its pace; here an item is created every CREATE_GAP_S
(1-3 s, random), lives LIFETIME_S (5-20 s) and is then deleted, with at most MAX_LIVE items
alive (a create waits for a delete). Nothing is stored: the items exist only as events.
"""

from __future__ import annotations

import heapq

from rooms.kit.times import now_iso
from rooms.supervisor.context import WorkerContext

TOPIC = "topic1"
CREATE_GAP_S = (1.0, 3.0)
LIFETIME_S = (5.0, 20.0)
MAX_LIVE = 8


async def run(ctx: WorkerContext) -> None:
    rng = ctx.rng
    due: list[tuple[float, str]] = []  # (delete at, id), soonest first
    elapsed = 0.0  # worker time: the sum of its own waits, so tests need no clock
    next_create = 0.0
    while True:
        ctx.heartbeat()
        if due and (due[0][0] <= next_create or len(due) >= MAX_LIVE):
            at, item = heapq.heappop(due)
            await ctx.sleep(max(0.0, at - elapsed))
            elapsed = max(elapsed, at)
            await ctx.publish(TOPIC, {"event": "delete", "id": item, "ts": now_iso()})
            continue
        await ctx.sleep(max(0.0, next_create - elapsed))
        elapsed = max(elapsed, next_create)
        item = f"{rng.getrandbits(32):08x}"
        heapq.heappush(due, (elapsed + rng.uniform(*LIFETIME_S), item))
        await ctx.publish(TOPIC, {"event": "create", "id": item, "ts": now_iso()})
        next_create = elapsed + rng.uniform(*CREATE_GAP_S)
