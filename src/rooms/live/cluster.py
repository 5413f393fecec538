"""Cluster-wide live counts: every process reports its own to Redis with a TTL.

Each process writes `rooms:live:node:<node>` (its counts as JSON, expiring after
LIVE_COUNT_TTL_S), adds itself to the set `rooms:live:nodes`, and announces the same JSON on
the `rooms:live:counts` channel. It rewrites the key whenever its counts change (at most
every WRITE_GAP_S) and at least every TTL/3. Peers keep what they last heard from each node
together with the moment that node's key expires; a node that stops writing (killed, frozen,
cut off) is dropped at that moment, so a dead process's clients vanish within the TTL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from rooms.logging import get_logger

if TYPE_CHECKING:  # redis loads only where a Redis is configured
    from redis.asyncio import Redis

log = get_logger("rooms.live.cluster")

NODES_KEY = "rooms:live:nodes"
NODE_KEY_PREFIX = "rooms:live:node:"
COUNTS_CHANNEL = "rooms:live:counts"
WRITE_GAP_S = 0.05  # coalesce a burst of connects into one write


@dataclass(frozen=True, slots=True)
class NodeCounts:
    total: int = 0
    topics: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Peer:
    counts: NodeCounts
    expires_at: float  # loop time at which its key expires unless it writes again
    heard_at: float


class ClusterCounts:
    """Our own counts out to Redis; everyone else's in, kept in memory for `Hub.counts()`."""

    def __init__(self, redis: Redis, *, node: str, ttl_s: float,
                 local: Callable[[], NodeCounts], on_change: Callable[[], None]) -> None:
        self._redis = redis
        self._node = node
        self._ttl_s = ttl_s
        self._local = local
        self._on_change = on_change
        self._peers: dict[str, _Peer] = {}
        self._dirty = asyncio.Event()
        self._dirty.set()  # announce ourselves at start
        self._loop = asyncio.get_running_loop()
        self.total = 0
        self.topics: dict[str, int] = {}

    def mark_dirty(self) -> None:
        self._dirty.set()

    # --- out -------------------------------------------------------------------------
    async def run_writer(self) -> NoReturn:
        while True:
            try:
                async with asyncio.timeout(self._ttl_s / 3):
                    await self._dirty.wait()
            except TimeoutError:
                pass
            self._dirty.clear()
            try:
                await self._write()
            except Exception as exc:  # Redis away: the next tick tries again
                log.warning("live.counts.write_failed", error=type(exc).__name__)
            await asyncio.sleep(WRITE_GAP_S)

    async def _write(self) -> None:
        own = self._local()
        body = json.dumps({"node": self._node, "total": own.total, "topics": own.topics,
                           "ttl_ms": int(self._ttl_s * 1000)}, separators=(",", ":"))
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(NODE_KEY_PREFIX + self._node, body, px=int(self._ttl_s * 1000))
        pipe.sadd(NODES_KEY, self._node)
        pipe.publish(COUNTS_CHANNEL, body)
        await pipe.execute()

    async def withdraw(self) -> None:
        """On a clean shutdown: remove our key and tell peers at once (best effort)."""
        body = json.dumps({"node": self._node, "gone": True})
        try:
            async with asyncio.timeout(1.0):
                pipe = self._redis.pipeline(transaction=True)
                pipe.delete(NODE_KEY_PREFIX + self._node)
                pipe.srem(NODES_KEY, self._node)
                pipe.publish(COUNTS_CHANNEL, body)
                await pipe.execute()
        except Exception as exc:
            log.warning("live.counts.withdraw_failed", error=type(exc).__name__)

    # --- in --------------------------------------------------------------------------
    def on_notice(self, raw: bytes) -> None:
        """A peer announced its counts on the channel."""
        try:
            data = json.loads(raw)
            node = str(data["node"])
        except (ValueError, KeyError, TypeError):
            return
        if node == self._node:
            return
        if data.get("gone"):
            if self._peers.pop(node, None) is not None:
                self._recount()
            return
        counts = _parse_counts(data)
        ttl_s = float(data.get("ttl_ms", self._ttl_s * 1000)) / 1000
        now = self._loop.time()
        old = self._peers.get(node)
        self._peers[node] = _Peer(counts, now + ttl_s, now)
        if old is None or old.counts != counts:
            self._recount()

    async def run_reader(self) -> NoReturn:
        """Re-read every node every TTL/3, and drop each peer the moment its key expires."""
        next_read = 0.0
        while True:
            now = self._loop.time()
            if now >= next_read:
                try:
                    await self._read_all()
                except Exception as exc:
                    log.warning("live.counts.read_failed", error=type(exc).__name__)
                next_read = self._loop.time() + self._ttl_s / 3
            self._expire(self._loop.time())
            wake = min([next_read, *(p.expires_at for p in self._peers.values())])
            await asyncio.sleep(max(0.005, wake - self._loop.time()))

    async def _read_all(self) -> None:
        started = self._loop.time()
        members = [m.decode() for m in await self._redis.smembers(NODES_KEY)]  # type: ignore[misc]
        others = [m for m in members if m != self._node]
        pipe = self._redis.pipeline(transaction=False)
        for node in others:
            pipe.get(NODE_KEY_PREFIX + node)
            pipe.pttl(NODE_KEY_PREFIX + node)
        results: list[Any] = await pipe.execute() if others else []
        now = self._loop.time()
        seen: dict[str, _Peer] = {}
        gone: list[str] = []
        for i, node in enumerate(others):
            raw, pttl = results[2 * i], results[2 * i + 1]
            if raw is None or not isinstance(pttl, int) or pttl <= 0:
                gone.append(node)
                continue
            try:
                counts = _parse_counts(json.loads(raw))
            except (ValueError, TypeError):
                continue
            seen[node] = _Peer(counts, now + pttl / 1000, now)
        if gone:
            await self._redis.srem(NODES_KEY, *gone)  # type: ignore[misc]
        changed = False
        for node, peer in list(self._peers.items()):
            if node not in seen and peer.heard_at < started:  # not re-announced meanwhile
                del self._peers[node]
                changed = True
        for node, peer in seen.items():
            old = self._peers.get(node)
            if old is not None and old.heard_at > started:
                continue  # a notice newer than this read
            self._peers[node] = peer
            changed = changed or old is None or old.counts != peer.counts
        if changed:
            self._recount()

    def _expire(self, now: float) -> None:
        dead = [node for node, peer in self._peers.items() if peer.expires_at <= now]
        for node in dead:
            del self._peers[node]
            log.info("live.counts.peer_expired", node=node)
        if dead:
            self._recount()

    def _recount(self) -> None:
        total = 0
        topics: dict[str, int] = {}
        for peer in self._peers.values():
            total += peer.counts.total
            for topic, n in peer.counts.topics.items():
                topics[topic] = topics.get(topic, 0) + n
        if (total, topics) != (self.total, self.topics):
            self.total, self.topics = total, topics
            self._on_change()

    @property
    def peers(self) -> list[str]:
        return sorted(self._peers)


def _parse_counts(data: Any) -> NodeCounts:
    if not isinstance(data, dict):
        raise TypeError("counts must be an object")
    topics = data.get("topics") or {}
    if not isinstance(topics, dict):
        raise TypeError("topics must be an object")
    return NodeCounts(int(data.get("total", 0)),
                      {str(k): int(v) for k, v in topics.items() if int(v) > 0})
