"""Sign-in lockout: after N failed attempts a client is refused for a fixed time.

Not the fixed-window `RateLimiter`: a window boundary would cut a lockout short. Failures
are counted per client key until `lockout_s` pass without one; the Nth starts a lock that
lasts exactly `lockout_s`, right secret or not. The lock stores its end time (read against
`clock`, so tests move time instead of sleeping); Redis when configured, so every process
shares it, else memory. If Redis stops answering, this process keeps counting on its own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from rooms.kit.tokens import Clock
from rooms.logging import get_logger

log = get_logger("rooms.ops.lockout")

PREFIX = "rooms:ops:login:"


@dataclass(frozen=True, slots=True)
class Attempt:
    failures: int
    locked_for_s: int  # 0 when not locked


class LoginLockout:
    def __init__(self, redis: Redis | None = None, *, clock: Clock = time.time) -> None:
        self._redis = redis
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, forget at)
        self._locks: dict[str, float] = {}  # key -> locked until

    async def locked_for(self, key: str) -> int:
        """Seconds left on this client's lock (0: not locked)."""
        until = self._locks.get(key, 0.0)
        if self._redis is not None:
            try:
                raw = await self._redis.get(f"{PREFIX}lock:{key}")
                until = max(until, float(raw) if raw is not None else 0.0)
            except Exception as exc:
                log.warning("ops.lockout.redis_unavailable", error=type(exc).__name__)
        left = until - self.clock()
        return math.ceil(left) if left > 0 else 0

    async def fail(self, key: str, *, max_attempts: int, lockout_s: int) -> Attempt:
        """Count one failure; lock the client when it is the `max_attempts`th."""
        now = self.clock()
        count = self._count_here(key, now, lockout_s)
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline(transaction=True)
                pipe.incr(f"{PREFIX}fail:{key}")
                pipe.expire(f"{PREFIX}fail:{key}", lockout_s)
                count = int((await pipe.execute())[0])
            except Exception as exc:
                log.warning("ops.lockout.redis_unavailable", error=type(exc).__name__)
        if count < max_attempts:
            return Attempt(count, 0)
        until = now + lockout_s
        self._locks[key] = until
        self._failures.pop(key, None)
        if self._redis is not None:
            try:
                pipe = self._redis.pipeline(transaction=True)
                pipe.set(f"{PREFIX}lock:{key}", repr(until), ex=lockout_s + 60)
                pipe.delete(f"{PREFIX}fail:{key}")
                await pipe.execute()
            except Exception as exc:
                log.warning("ops.lockout.redis_unavailable", error=type(exc).__name__)
        return Attempt(count, lockout_s)

    async def clear(self, key: str) -> None:
        """A successful sign-in forgets the client's earlier failures."""
        self._failures.pop(key, None)
        if self._redis is not None:
            try:
                await self._redis.delete(f"{PREFIX}fail:{key}")
            except Exception as exc:
                log.warning("ops.lockout.redis_unavailable", error=type(exc).__name__)

    def _count_here(self, key: str, now: float, lockout_s: int) -> int:
        if len(self._failures) + len(self._locks) > 10_000:  # forget what has run out
            self._failures = {k: v for k, v in self._failures.items() if v[1] > now}
            self._locks = {k: u for k, u in self._locks.items() if u > now}
        count, forget_at = self._failures.get(key, (0, 0.0))
        count = (count if forget_at > now else 0) + 1
        self._failures[key] = (count, now + lockout_s)
        return count
