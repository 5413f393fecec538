"""Push the node status to operator dashboards on /ws/ops.

    {"topic": "ops", "event": "node_status", "node": "...", "ok": true, ...}

Once when an operator socket on this process joins, then every OPS_STATUS_PUSH_S (0: never)
while any is open; with none open it waits on the hub's count changes and costs nothing.
Each process pushes for its own sockets (`node` says which process measured it). The loop
is owned by a TaskGroup entered in the app's lifespan and cancelled when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from rooms.live.protocol import OPS_TOPIC
from rooms.logging import get_logger
from rooms.ops.status import node_status
from rooms.resources import Resources

log = get_logger("rooms.ops.push")


async def push_once(res: Resources) -> None:
    status = await node_status(res)
    await res.live.publish(OPS_TOPIC, {"event": "node_status", "node": res.live.node, **status})


async def run_pusher(res: Resources) -> None:
    """Restart the loop whatever it raises: a push bug must never take the app down."""
    while True:
        try:
            await _loop(res)
        except Exception as exc:
            log.error("ops.push.crashed", error=type(exc).__name__, exc_info=exc)
            await asyncio.sleep(res.settings.ops_status_push_s)


async def _loop(res: Resources) -> None:
    hub = res.live
    version = hub.version
    while True:
        if hub.local_counts().get(OPS_TOPIC, 0) == 0:
            version = await hub.counts_changed(version)
            continue
        try:
            await push_once(res)
        except Exception as exc:  # one bad round must not end the pushes
            log.warning("ops.push.failed", error=type(exc).__name__)
        # Wake early when an operator joins, so a new dashboard is filled at once.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(res.settings.ops_status_push_s):
                while True:
                    before = hub.local_counts().get(OPS_TOPIC, 0)
                    version = await hub.counts_changed(version)
                    if hub.local_counts().get(OPS_TOPIC, 0) > before:
                        break


@contextlib.asynccontextmanager
async def status_pusher(res: Resources) -> AsyncIterator[None]:
    """Run the pushes for as long as this block (the app's lifespan) runs."""
    if res.settings.ops_status_push_s <= 0:
        yield
        return
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(run_pusher(res), name="ops-status-push")
        try:
            yield
        finally:
            task.cancel()
