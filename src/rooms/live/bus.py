"""Redis pub/sub between api processes: events on one channel per topic, count notices on one.

Each process holds one pub/sub connection, pattern-subscribed to every topic's channel. An
event is delivered to the publishing process's own subscribers directly, so a message that
comes back from Redis carrying this process's node id is skipped.

Outgoing events wait in a bounded queue that one task flushes to Redis in pipelined
batches: `send` never waits on the network (and so can neither stall the publisher nor, on
Python 3.11, have its caller's cancellation swallowed by redis-py's `wait_for`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from rooms.logging import get_logger

if TYPE_CHECKING:  # redis loads only where a Redis is configured
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

log = get_logger("rooms.live.bus")

EVENTS_PREFIX = "rooms:live:events:"  # + topic; payload b"<node> <event JSON>"
EVENTS_PATTERN = EVENTS_PREFIX + "*"
COUNTS_CHANNEL = "rooms:live:counts"  # payload: a node's counts JSON (see cluster.py)
READ_TIMEOUT_S = 1.0  # below the client's socket_timeout, so an idle channel is not an error
BACKOFF_S = (0.2, 5.0)
OUTBOX_SIZE = 10_000  # events waiting for Redis; past it the oldest are dropped
BATCH = 256


class RedisBus:
    def __init__(self, redis: Redis, *, node: str, on_event: Callable[[str, str], None],
                 on_counts: Callable[[bytes], None]) -> None:
        self._redis = redis
        self._node = node
        self._node_bytes = node.encode()
        self._on_event = on_event
        self._on_counts = on_counts
        self.connected = asyncio.Event()
        self._outbox: deque[tuple[str, str]] = deque(maxlen=OUTBOX_SIZE)
        self._queued = asyncio.Event()
        self.dropped = 0

    def send(self, topic: str, text: str) -> None:
        """Queue an event for the other processes; never waits."""
        if len(self._outbox) == OUTBOX_SIZE:
            self.dropped += 1
        self._outbox.append((EVENTS_PREFIX + topic, f"{self._node} {text}"))
        self._queued.set()

    async def run_sender(self) -> NoReturn:
        failing = False
        while True:
            await self._queued.wait()
            self._queued.clear()
            while self._outbox:
                batch = [self._outbox.popleft() for _ in range(min(BATCH, len(self._outbox)))]
                pipe = self._redis.pipeline(transaction=False)
                for channel, payload in batch:
                    pipe.publish(channel, payload)
                try:
                    await pipe.execute()
                except Exception as exc:  # local subscribers had them; the others miss these
                    if not failing:
                        log.warning("live.publish.redis_failed", error=type(exc).__name__)
                    failing = True
                    await asyncio.sleep(BACKOFF_S[0])
                else:
                    if failing:
                        log.info("live.publish.redis_recovered", dropped=self.dropped)
                    failing = False

    async def run(self) -> NoReturn:
        """Listen until cancelled; reconnect with backoff when Redis goes away."""
        delay = BACKOFF_S[0]
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(EVENTS_PATTERN)
                await pubsub.subscribe(COUNTS_CHANNEL)
                self.connected.set()
                if delay > BACKOFF_S[0]:
                    log.info("live.bus.reconnected")
                delay = BACKOFF_S[0]
                await self._listen(pubsub)
            except Exception as exc:  # Redis down or restarting: keep trying, never crash
                if self.connected.is_set() or delay == BACKOFF_S[0]:
                    log.warning("live.bus.disconnected", error=type(exc).__name__,
                                detail=str(exc)[:200])
                self.connected.clear()
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_S[1])
            finally:
                self.connected.clear()
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True,
                                               timeout=READ_TIMEOUT_S)
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        data = message.get("data")
        if not isinstance(data, bytes):
            return
        if message["type"] == "pmessage":
            node, _, text = data.partition(b" ")
            if node == self._node_bytes or not text:
                return
            channel: bytes = message["channel"]
            self._on_event(channel[len(EVENTS_PREFIX):].decode(), text.decode())
        elif message["type"] == "message":
            self._on_counts(data)


class RedisPublisher:
    """Publishes events to every api process's hub from a process without one (the arq
    worker), on the same channels and in the same framing as `RedisBus.send`."""

    def __init__(self, redis: Redis, *, node: str) -> None:
        self._redis = redis
        self._node = node

    async def publish(self, topic: str, event: Any) -> None:
        from rooms.live.protocol import event_text

        await self._redis.publish(EVENTS_PREFIX + topic,
                                  f"{self._node} {event_text(topic, dict(event))}")
