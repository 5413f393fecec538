"""One seeking stream's publishing path: ticks, delivery, beacons, and the commons (seed 002).

A `Stream` wraps the topic a worker speaks on. `tick(event)` publishes the event, tells the
stream's `Seeker` whether it was delivered and whether the stream is attached, and sends
the beacon the seeker asks for (to the `SeekStore` and the `beacons` topic).

    delivered  a websocket client is subscribed to the stream's topic (cluster-wide), or the
               stream is in the commons and a client is subscribed to `commons`
    attached   delivered, or a listener holds the stream (or, merged, holds `commons`) in
               the store (subscriptions expire unless renewed: rooms.streams.store)

The commons (seed 002's extension; opt-in per task, `commons: true` in the worker table): a
stream lonely for NOISE_SEEK_SHUTDOWN_AFTER_S joins the one `Commons` of its supervisor
instead of beaconing on its own for ever. From then on each of its ticks is also published on
topic `commons` as `{"topic": "commons", "stream": STREAM_ID, **event}` (ticks of every
member interleave there as they happen). A listener on `commons` (websocket or store)
attaches every member; members never beacon alone: while nobody hears the commons, it sends
one beacon for all (`stream_id` and `stream_topic` "commons", `streams`: each member's state) at
the NOISE_SEEK_BEACON_INTERVAL_ESC_S pace. A member leaves the commons when a listener comes
for it by name (its own topic, or its stream id in the store), or when its run ends.

Every beacon carries seed 002's fields plus `stream_topic` (what to subscribe to) and `commons`
(whether the stream is merged); `state` is `commons` for a member nobody hears.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rooms.kit.times import iso_ms
from rooms.logging import get_logger
from rooms.streams.seeking import Seeker

if TYPE_CHECKING:
    from rooms.live.hub import Hub
    from rooms.streams.store import SeekStore

log = get_logger("rooms.streams.stream")

COMMONS = "commons"
BEACONS = "beacons"


class Commons:
    """The merged orphans of one supervisor: member stream id -> its state."""

    def __init__(self) -> None:
        self.members: dict[str, str] = {}
        self.produced = 0
        self.delivered = 0
        self.beacon_n = 0
        self.last_beacon_at: float | None = None

    def join(self, stream_id: str) -> None:
        if stream_id not in self.members:
            self.members[stream_id] = "commons"
            log.info("commons.joined", stream=stream_id, members=sorted(self.members))

    def leave(self, stream_id: str, why: str) -> None:
        if self.members.pop(stream_id, None) is not None:
            log.info("commons.left", stream=stream_id, why=why, members=sorted(self.members))


class Stream:
    """`stream_id` seeking on `topic`; `commons` given: it may merge there when lonely."""

    def __init__(self, *, stream_id: str, topic: str, hub: Hub, store: SeekStore,
                 seeker: Seeker, clock: Callable[[], float], commons: Commons | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.stream_id = stream_id
        self.topic = topic
        self.hub = hub
        self.store = store
        self.seeker = seeker
        self.clock = clock
        self.commons = commons
        self.wall = wall

    @property
    def merged(self) -> bool:
        return self.commons is not None and self.stream_id in self.commons.members

    async def tick(self, event: dict[str, Any], *, entropy_profile: str = "unknown",
                   tokens_hint: list[str] | None = None, spore: str = "") -> dict[str, Any] | None:
        """Publish one tick; the beacon sent for it, if any."""
        counts = self.hub.counts()
        own = counts.get(self.topic, 0) > 0
        held = bool(await self.store.holders(self.stream_id))
        if self.merged and (own or held):
            assert self.commons is not None
            self.commons.leave(self.stream_id, "a listener came for it")
        await self.hub.publish(self.topic, event)
        heard_commons = False
        if self.merged:
            assert self.commons is not None
            heard_commons = counts.get(COMMONS, 0) > 0
            held_commons = bool(await self.store.holders(COMMONS))
            await self.hub.publish(COMMONS, {"stream": self.stream_id, **event})
            self.commons.produced += 1
            self.commons.delivered += heard_commons
            attached = heard_commons or held_commons
            self.commons.members[self.stream_id] = "attached" if attached else "commons"
            self.seeker.tick(self.clock(), delivered=heard_commons, attached=attached,
                             wall=self.wall())
            if attached:
                return None
            return await self._commons_beacon(entropy_profile, tokens_hint, spore)
        beacon = self.seeker.tick(self.clock(), delivered=own, attached=own or held,
                                  wall=self.wall(), entropy_profile=entropy_profile,
                                  tokens_hint=tokens_hint, spore=spore)
        if beacon is not None:
            beacon.update(stream_topic=self.topic, commons=False)
            await self._send(beacon)
        if self.commons is not None and self.seeker.shutdown_intent and not (own or held):
            self.commons.join(self.stream_id)  # lonely past the shutdown limit: merge
        return beacon

    async def _commons_beacon(self, entropy_profile: str, tokens_hint: list[str] | None,
                              spore: str) -> dict[str, Any] | None:
        assert self.commons is not None
        c, now = self.commons, self.clock()
        interval = self.seeker.config.beacon_interval_esc_s
        if c.last_beacon_at is not None and now - c.last_beacon_at < interval:
            return None
        c.last_beacon_at = now
        c.beacon_n += 1
        loneliness = 1.0 if c.delivered == 0 else max(0.0, (c.produced - c.delivered)
                                                      / max(1, c.produced))
        beacon = {"ts": iso_ms_at(self.wall()), "stream_id": COMMONS, "state": "seeking_escalate",
                  "seq": c.produced, "produced_ticks": c.produced,
                  "delivered_ticks": c.delivered, "loneliness_ratio": round(loneliness, 5),
                  "mode": "commons", "entropy_profile": entropy_profile,
                  "tempo_range_s": list(self.seeker.tempo_range_s),
                  "tokens_hint": list(tokens_hint or []), "spore": spore,
                  "beacon_n": c.beacon_n, "stream_topic": COMMONS, "commons": True,
                  "streams": dict(sorted(c.members.items()))}
        await self._send(beacon)
        return beacon

    async def _send(self, beacon: dict[str, Any]) -> None:
        await self.store.add_beacon(beacon)
        await self.hub.publish(BEACONS, beacon)

    def close(self) -> None:
        """The run ends: a stream that produces nothing is no member of the commons."""
        if self.commons is not None:
            self.commons.leave(self.stream_id, "stopped")


def iso_ms_at(wall: float) -> str:
    return iso_ms(datetime.fromtimestamp(wall, UTC))
