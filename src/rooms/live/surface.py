"""Events on the `surface` topic, so a room reacts to the steward and the pool without polling.

    {"topic": "surface", "event": "posture", "intake_paused": false,
     "playback_paused": false, "quieter_mode": true, "ts": "2026-01-01T12:00:00Z"}
    {"topic": "surface", "event": "pool", "change": "added" | "revoked" | "expired",
     "artifact_id": 42, "ts": "..."}

Publish them after the change has committed (a room that re-reads the pool must see it).
"""

from __future__ import annotations

from typing import Literal

from rooms.kit.times import now_iso
from rooms.live.hub import Hub

SURFACE = "surface"
PoolChange = Literal["added", "revoked", "expired"]


async def posture_changed(hub: Hub, *, intake_paused: bool, playback_paused: bool,
                          quieter_mode: bool) -> None:
    await hub.publish(SURFACE, {"event": "posture", "intake_paused": intake_paused,
                                "playback_paused": playback_paused,
                                "quieter_mode": quieter_mode, "ts": now_iso()})


async def pool_changed(hub: Hub, change: PoolChange, artifact_id: int) -> None:
    await hub.publish(SURFACE, {"event": "pool", "change": change, "artifact_id": artifact_id,
                                "ts": now_iso()})
