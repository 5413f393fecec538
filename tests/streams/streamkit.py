"""A seeking stream on a real hub and a real seek store, driven tick by tick on a test clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rooms.live.hub import Hub
from rooms.streams.seeking import SeekConfig, Seeker
from rooms.streams.store import FileSeekStore, SeekStore
from rooms.streams.stream import Commons, Stream

CONFIG = SeekConfig(lonely_after_s=12, escalate_after_s=30, shutdown_after_s=120,
                    beacon_interval_low_s=10, beacon_interval_esc_s=5)


class Clock:
    """Monotonic and wall time together; tests move `t`."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1.8e9 + self.t


def file_store(tmp_path: Path, clock: Clock, ttl_s: float = 60.0) -> FileSeekStore:
    return FileSeekStore(tmp_path / "runtime" / "beacons.jsonl",
                         tmp_path / "runtime" / "subscriptions.json", ttl_s=ttl_s,
                         wall=clock.wall)


def stream(hub: Hub, store: SeekStore, clock: Clock, *, stream_id: str = "noise_metadata",
           topic: str = "noise_metadata", commons: Commons | None = None) -> Stream:
    seeker = Seeker(stream_id=stream_id, mode="markov", tempo_range_s=(1.0, 1.0), config=CONFIG)
    return Stream(stream_id=stream_id, topic=topic, hub=hub, store=store, seeker=seeker,
                  clock=clock, commons=commons, wall=clock.wall)


async def ticks(s: Stream, clock: Clock, seconds: float, *,
                step: float = 1.0) -> list[tuple[float, dict[str, Any]]]:
    """Tick every `step` for `seconds` of test time; the beacons sent, with their time."""
    sent = []
    end = clock.t + seconds
    while clock.t < end:
        clock.t += step
        beacon = await s.tick({"event": "noise_meta", "text": "flux echo"})
        if beacon is not None:
            sent.append((clock.t, beacon))
    return sent


def drain(sub: Any) -> list[dict[str, Any]]:
    """Every event queued for an in-process subscriber, oldest first (none waited for)."""
    import json

    out = []
    while (text := sub.next_text()) is not None:
        out.append(json.loads(text))
    return out
