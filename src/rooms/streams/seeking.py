"""A stream nobody listens to goes looking for a listener (seed 002).

    idle -> seeking_low -> seeking_escalate -> attached

Every tick (one produced event) the `Seeker` is told whether the tick reached a listener
and whether the stream is attached (a websocket client on its topic, or a listener in the
subscriptions file). Lonely for NOISE_SEEK_LONELY_AFTER_S: `seeking_low`, a beacon at most
every NOISE_SEEK_BEACON_INTERVAL_LOW_S; for NOISE_SEEK_ESCALATE_AFTER_S: `seeking_escalate`,
every NOISE_SEEK_BEACON_INTERVAL_ESC_S; for NOISE_SEEK_SHUTDOWN_AFTER_S the shutdown intent
is logged once (the stream keeps escalating, as in the seed's MVP). Attached: no beacons.
Unlike upstream, attachment by websocket ends when the last client leaves, and loneliness
is 1.0 while nothing was delivered, as the seed's spec says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from rooms.config import Settings
from rooms.kit.times import iso_ms
from rooms.logging import get_logger

log = get_logger("rooms.streams.seeking")

State = Literal["idle", "seeking_low", "seeking_escalate", "attached"]


@dataclass(frozen=True, slots=True)
class SeekConfig:
    lonely_after_s: float = 12.0
    escalate_after_s: float = 30.0
    shutdown_after_s: float = 120.0
    beacon_interval_low_s: float = 10.0
    beacon_interval_esc_s: float = 5.0

    @classmethod
    def from_settings(cls, s: Settings) -> SeekConfig:
        return cls(s.noise_seek_lonely_after_s, s.noise_seek_escalate_after_s,
                   s.noise_seek_shutdown_after_s, s.noise_seek_beacon_interval_low_s,
                   s.noise_seek_beacon_interval_esc_s)


class Seeker:
    def __init__(self, *, stream_id: str, mode: str, tempo_range_s: tuple[float, float],
                 config: SeekConfig) -> None:
        self.stream_id = stream_id
        self.mode = mode
        self.tempo_range_s = tempo_range_s
        self.config = config
        self.state: State = "idle"
        self.produced = 0
        self.delivered = 0
        self.beacon_n = 0
        self.first_lonely_at: float | None = None
        self.last_beacon_at: float | None = None
        self.shutdown_intent = False

    @property
    def loneliness(self) -> float:
        if self.delivered == 0:
            return 1.0
        return max(0.0, (self.produced - self.delivered) / max(1, self.produced))

    def tick(self, now: float, *, delivered: bool, attached: bool, wall: float,
             entropy_profile: str = "unknown", tokens_hint: list[str] | None = None,
             spore: str = "") -> dict[str, Any] | None:
        """Count one tick; the beacon to send, if one is due. `now` is monotonic seconds,
        `wall` the epoch time stamped on the beacon."""
        self.produced += 1
        self.delivered += delivered
        if attached:
            if self.state != "attached":
                log.info("seeking.attached", stream=self.stream_id, produced=self.produced)
            self.state, self.first_lonely_at, self.shutdown_intent = "attached", None, False
            return None
        if self.first_lonely_at is None:
            self.first_lonely_at = now
        lonely_for = now - self.first_lonely_at
        c = self.config
        if lonely_for >= c.escalate_after_s:
            self.state = "seeking_escalate"
        elif lonely_for >= c.lonely_after_s:
            self.state = "seeking_low"
        else:
            self.state = "idle"
        if lonely_for >= c.shutdown_after_s and not self.shutdown_intent:
            self.shutdown_intent = True
            log.info("seeking.would_shutdown", stream=self.stream_id,
                     lonely_s=round(lonely_for, 1), produced=self.produced)
        if self.state == "idle":
            return None
        interval = (c.beacon_interval_low_s if self.state == "seeking_low"
                    else c.beacon_interval_esc_s)
        if self.last_beacon_at is not None and now - self.last_beacon_at < interval:
            return None
        self.last_beacon_at = now
        self.beacon_n += 1
        return {"ts": iso_ms(datetime.fromtimestamp(wall, UTC)), "stream_id": self.stream_id,
                "state": self.state,
                "seq": self.produced, "produced_ticks": self.produced,
                "delivered_ticks": self.delivered,
                "loneliness_ratio": round(self.loneliness, 5), "mode": self.mode,
                "entropy_profile": entropy_profile, "tempo_range_s": list(self.tempo_range_s),
                "tokens_hint": list(tokens_hint or []), "spore": spore,
                "beacon_n": self.beacon_n}


def entropy_profile(char_entropy_avg_bits: float) -> str:
    """low / medium / high by bits per character (the seed leaves the cut-offs open)."""
    if char_entropy_avg_bits < 3.2:
        return "low"
    return "medium" if char_entropy_avg_bits < 3.8 else "high"
