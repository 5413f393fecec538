"""Push the node status to operator dashboards on /ws/ops.

    {"topic": "ops", "event": "node_status", "node": "...", "ok": true, ...}

Once when an operator socket joins, then every OPS_STATUS_PUSH_S (0: never) while any is
open; with none open it waits on the hub's count changes and costs nothing. With several
api processes (Redis) only the stream leader computes it, once per interval for the whole
cluster, while an operator socket is open on any process; the hub fans it out (`node` says
which process measured it). The loop is owned by a TaskGroup entered in the app's lifespan
and cancelled when it ends.
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


def _audience(res: Resources) -> int:
    """Operator sockets this process pushes for: its own without Redis; with Redis, the
    cluster's on the leader and none elsewhere."""
    hub = res.live
    if hub.redis is None:
        return hub.local_counts().get(OPS_TOPIC, 0)
    return hub.counts().get(OPS_TOPIC, 0) if res.streams.leading else 0


async def _loop(res: Resources) -> None:
    hub = res.live
    version = hub.version
    # leadership moves without a count change: with Redis, look again every interval
    recheck = None if hub.redis is None else res.settings.ops_status_push_s
    while True:
        if _audience(res) == 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(recheck):
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
                    before = _audience(res)
                    version = await hub.counts_changed(version)
                    if _audience(res) > before:
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
