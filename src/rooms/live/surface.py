"""Events on the `surface` topic, so a room reacts to the steward and the pool without polling.

    {"topic": "surface", "event": "posture", "intake_paused": false,
     "playback_paused": false, "quieter_mode": true, "maintenance_mode": false,
     "mood_bias": "", "room_volume": 1.0, "kiosk_language_code": "", ...,
     "ts": "2026-01-01T12:00:00Z"}
      (the whole steward posture: `rooms.steward.Posture.event`)
    {"topic": "surface", "event": "pool",
     "change": "added" | "revoked" | "expired" | "removed" | "essence",
     "artifact_id": 42, "ts": "..."}
      ("essence": a FOSSIL's raw audio expired; it plays its essence from now on)

Publish them after the change has committed (a room that re-reads the pool must see it).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from rooms.kit.times import now_iso

SURFACE = "surface"
PoolChange = Literal["added", "revoked", "expired", "removed", "essence"]


class Publisher(Protocol):
    """The hub in an api process; Redis pub/sub to the api processes from the worker."""

    async def publish(self, topic: str, event: Any) -> None: ...


async def posture_changed(events: Publisher, **posture: Any) -> None:
    """Announce the steward's posture (its fields as keyword arguments)."""
    await events.publish(SURFACE, {"event": "posture", **posture, "ts": now_iso()})


async def pool_changed(events: Publisher, change: PoolChange, artifact_id: int) -> None:
    await events.publish(SURFACE, {"event": "pool", "change": change, "artifact_id": artifact_id,
                                "ts": now_iso()})
