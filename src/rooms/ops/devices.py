"""The devices list for the operator API and the node status (rooms.live.devices).

A device not heard from for DEVICE_GONE_S (60 s) is `stale` and a `device_gone` warning.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rooms.kit.times import iso
from rooms.live.devices import registry
from rooms.resources import Resources


async def listing(res: Resources) -> dict[str, Any]:
    """`{"items": [{"kind", "name", "last_seen_at", "status", "stale"}]}` by kind and name
    (every process's devices with Redis)."""
    reg = registry(res)
    now = reg.clock()
    gone_s = res.settings.device_gone_s
    return {"items": [{"kind": s.kind, "name": s.name,
                       "last_seen_at": iso(datetime.fromtimestamp(s.last_seen, UTC)),
                       "status": s.status, "stale": now - s.last_seen > gone_s}
                      for s in await reg.all()]}


async def gone(res: Resources) -> list[dict[str, Any]]:
    """The devices not heard from for DEVICE_GONE_S."""
    return [item for item in (await listing(res))["items"] if item["stale"]]


async def warnings(res: Resources) -> list[dict[str, str]]:
    return [{"code": "device_gone",
             "message": f"{d['kind']} {d['name']!r} not heard from since {d['last_seen_at']}",
             "level": "warning"} for d in await gone(res)]
