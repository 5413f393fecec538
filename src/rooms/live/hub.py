"""The broadcast hub: topics, subscribers, publishing, and live counts.

    async with hub.connection() as sub:       # one websocket: a bounded mailbox
        sub.join("stage", "beacons")
        ...                                   # leaves every topic in `finally`

    async with hub.subscribe("ops") as sub:   # an in-process consumer of one topic
        async for event in sub.events(): ...

`publish` serializes an event once and puts it in each subscriber's mailbox without ever
waiting, so one slow client cannot hold up the rest; with REDIS_URL it also goes to every
other process through Redis pub/sub. `counts()` and `total` are cluster-wide when Redis is
set; `await hub.counts_changed(version)` wakes when they change (no polling).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from rooms.config import Settings
from rooms.kit.store import Store
from rooms.live.bus import RedisBus
from rooms.live.cluster import ClusterCounts, NodeCounts
from rooms.live.protocol import ALL_TOPICS, CLOSE_GOING_AWAY, event_text
from rooms.live.subscriber import Event, Subscriber
from rooms.live.tokens import LiveTokens
from rooms.logging import get_logger

if TYPE_CHECKING:  # redis loads only where a Redis is configured
    from redis.asyncio import Redis

log = get_logger("rooms.live.hub")

DUTY_WINDOW_S = 0.25  # how often the share of the loop's time spent writing events is judged
QUEUE_ABOVE = 0.8  # written directly, events took more of a window than this: queue them
DIRECT_BELOW = 0.4  # queued, they would take less than this if written directly: write them


class Hub:
    def __init__(self, *, settings: Settings, redis: Redis | None,
                 store: Store | None = None) -> None:
        self.settings = settings
        self.redis = redis
        self.node = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.tokens = LiveTokens(secret=settings.secret_key.get_secret_value(),
                                 ttl_s=settings.live_token_ttl_s, store=store)
        self._topics: dict[str, set[Subscriber]] = {t: set() for t in ALL_TOPICS}
        self._counted: dict[str, int] = dict.fromkeys(ALL_TOPICS, 0)  # sockets per topic
        self._subscribers: set[Subscriber] = set()
        self._listeners = 0
        self._sockets = 0  # websocket connections of any kind (counted subscribers)
        self._version = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._bus: RedisBus | None = None
        self._cluster: ClusterCounts | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._direct = True  # the loop keeps up: write events to idle clients at once
        self.queue_above = QUEUE_ABOVE
        self.direct_below = DIRECT_BELOW
        self._clock = time.perf_counter
        self._spent = 0.0  # s spent in direct deliveries this window
        self._written = 0  # subscribers they reached
        self._queued = 0  # subscribers reached through the queues this window
        self._cost = 0.0  # s per subscriber of a direct delivery (of the last busy window)

    # --- lifecycle -------------------------------------------------------------------
    async def __aenter__(self) -> Hub:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        if self.redis is not None:
            self._cluster = ClusterCounts(self.redis, node=self.node,
                                          ttl_s=self.settings.live_count_ttl_s,
                                          local=self._local_counts, on_change=self._bump)
            self._bus = RedisBus(self.redis, node=self.node, on_event=self._deliver_remote,
                                 on_counts=self._cluster.on_notice)
            self._spawn(self._bus.run(), "live-bus")
            self._spawn(self._bus.run_sender(), "live-bus-sender")
            self._spawn(self._cluster.run_writer(), "live-counts-writer")
            self._spawn(self._cluster.run_reader(), "live-counts-reader")
        self._spawn(self._watch_duty(), "live-duty")
        log.info("live.hub.started", node=self.node, redis=self.redis is not None)
        return self

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        assert self._tg is not None
        self._tasks.append(self._tg.create_task(coro, name=name))

    async def __aexit__(self, *exc: object) -> None:
        for sub in list(self._subscribers):
            sub.request_close(CLOSE_GOING_AWAY, "server shutting down")
        pending = set(self._tasks)
        while pending:  # again and again: redis-py's wait_for can swallow one cancel (3.11)
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.1)
        if self._tg is not None:
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        self._tasks.clear()
        if self._cluster is not None:
            await self._cluster.withdraw()
        log.info("live.hub.stopped", node=self.node)

    # --- subscribing -----------------------------------------------------------------
    @asynccontextmanager
    async def connection(self, *, listener: bool = True,
                         counted: bool = True) -> AsyncIterator[Subscriber]:
        """A mailbox for one consumer. `listener` ones (/ws/live clients) count in `total`;
        `counted` ones (every websocket) in the per-topic counts."""
        sub = Subscriber(maxsize=self.settings.live_queue_size, listener=listener,
                         join=self._join, leave=self._leave, counted=counted)
        self._subscribers.add(sub)
        self._sockets += counted
        if listener:
            self._listeners += 1
            self._changed()
        try:
            yield sub
        finally:
            sub.leave(*sub.topics)
            self._subscribers.discard(sub)
            self._sockets -= counted
            if listener:
                self._listeners -= 1
                self._changed()

    @asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscriber]:
        """An in-process subscriber to `topics`. It is not an audience: it counts neither as a
        connection nor per topic (a worker listening to topic1 attaches nobody)."""
        async with self.connection(listener=False, counted=False) as sub:
            sub.join(*topics)
            yield sub

    def _join(self, sub: Subscriber, topic: str) -> None:
        self._topics.setdefault(topic, set()).add(sub)
        sub.topics.add(topic)
        if sub.counted:
            self._counted[topic] = self._counted.get(topic, 0) + 1
            self._changed()

    def _leave(self, sub: Subscriber, topic: str) -> None:
        self._topics.get(topic, set()).discard(sub)
        sub.topics.discard(topic)
        if sub.counted:
            self._counted[topic] -= 1
            self._changed()

    # --- publishing ------------------------------------------------------------------
    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        """Send `{"topic": topic, **event}` to every subscriber of `topic`, on every process."""
        text = event_text(topic, dict(event))
        self._deliver(Event(topic, text))
        if self._bus is not None:
            self._bus.send(topic, text)

    def publish_local(self, topic: str, event: Mapping[str, Any]) -> None:
        """Send to this process's subscribers only: an event each process makes for itself
        at the same moment (an opening-hours boundary), so that none hears it twice."""
        self._deliver(Event(topic, event_text(topic, dict(event))))

    def _deliver(self, event: Event) -> None:
        subs = self._topics.get(event.topic)
        if not subs:
            return
        if self._direct:
            started = self._clock()
            for sub in subs:
                sub.put(event)
            self._spent += self._clock() - started
            self._written += len(subs)
        else:
            for sub in subs:
                sub.put(event, False)
            self._queued += len(subs)

    async def _watch_duty(self) -> None:
        """Choose how events reach idle clients, by the share of the event loop's time that
        writing them takes (its duty), judged every DUTY_WINDOW_S.

        While the loop keeps up, `publish` writes each event to every idle client at once:
        the lowest latency and no task wake-ups, as a bare broadcast server. Once direct
        writes take more than `queue_above` of a window (events come nearly as fast as they
        can be written), events go to each client's queue instead, and each sender wake-up
        writes all that piled up for its client in one write (`Subscriber.take_frames`).
        Back to direct writes once the queued events, at the last measured cost per direct
        write, would take less than `direct_below`: the gap between the two is the
        hysteresis, and the judgement counts only the writes, so other work on a busy loop
        (requests, renders) never moves events to the queues, where they would cost more.
        """
        clock = self._clock
        while True:
            if not self._sockets:  # no socket to write to: nothing to judge on an idle box
                self._direct = True
                await self.counts_changed()
                continue
            self._spent, self._written, self._queued = 0.0, 0, 0
            began = clock()
            await asyncio.sleep(DUTY_WINDOW_S)
            window = max(clock() - began, 1e-6)
            if self._direct:
                if self._written:
                    self._cost = self._spent / self._written
                self._direct = self._spent / window <= self.queue_above
            else:
                self._direct = self._queued * self._cost / window < self.direct_below

    @property
    def writing_directly(self) -> bool:
        """True while events are written to idle clients from `publish` (see `_watch_duty`)."""
        return self._direct

    def _deliver_remote(self, topic: str, text: str) -> None:
        self._deliver(Event(topic, text))

    # --- counts ----------------------------------------------------------------------
    def _local_counts(self) -> NodeCounts:
        return NodeCounts(self._listeners, {t: n for t, n in self._counted.items() if n})

    def local_counts(self) -> dict[str, int]:
        """Websocket subscribers per topic on this process alone."""
        return dict(self._counted)

    def receivers(self, topic: str) -> int:
        """Everything on this process an event of `topic` reaches, in-process ones too."""
        return len(self._topics.get(topic, ()))

    @property
    def local_total(self) -> int:
        return self._listeners

    def counts(self) -> dict[str, int]:
        """Subscribers per topic (every known topic, zeros included), cluster-wide."""
        counts = self.local_counts()
        if self._cluster is not None:
            for topic, n in self._cluster.topics.items():
                counts[topic] = counts.get(topic, 0) + n
        return counts

    @property
    def total(self) -> int:
        """Open /ws/live connections, cluster-wide (operator dashboards are not listeners)."""
        return self._listeners + (self._cluster.total if self._cluster is not None else 0)

    @property
    def version(self) -> int:
        """Bumped on every change of `counts()` or `total`."""
        return self._version

    async def counts_changed(self, since: int | None = None) -> int:
        """Wait until the counts move past version `since` (default: now); return the new one."""
        seen = self._version if since is None else since
        while self._version <= seen:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                await waiter
            finally:
                self._waiters.discard(waiter)
        return self._version

    def _changed(self) -> None:
        if self._cluster is not None:
            self._cluster.mark_dirty()
        self._bump()

    def _bump(self) -> None:
        self._version += 1
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    @property
    def peers(self) -> list[str]:
        """Other processes whose counts are included (empty without Redis)."""
        return self._cluster.peers if self._cluster is not None else []
