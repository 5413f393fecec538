"""Fixed-window rate limits, counted in Redis when configured, in memory otherwise."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Budget:
    limit: int
    used: int
    window_s: int
    reset_in_s: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        return self.used > self.limit


class RateLimiter:
    """`hit(scope, key, limit, window)` counts one event and says whether it is allowed."""

    def __init__(self, redis: Redis | None, *, clock: Clock = time.time,
                 prefix: str = "rooms:rl") -> None:
        self._redis = redis
        self._clock = clock
        self._prefix = prefix
        self._memory: dict[str, tuple[int, int]] = {}

    def _window(self, window_s: int) -> tuple[int, int]:
        now = self._clock()
        start = int(now // window_s) * window_s
        return start, max(1, math.ceil(start + window_s - now))

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> Budget:
        start, reset = self._window(window_s)
        name = f"{self._prefix}:{scope}:{key}:{start}"
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.incr(name)
            pipe.expire(name, window_s + 5)
            used = int((await pipe.execute())[0])
        else:
            old_start, count = self._memory.get(f"{scope}:{key}", (start, 0))
            used = (count if old_start == start else 0) + 1
            self._memory[f"{scope}:{key}"] = (start, used)
            if len(self._memory) > 100_000:  # forget finished windows
                self._memory = {k: v for k, v in self._memory.items() if v[0] == start}
        return Budget(limit, used, window_s, reset)

    async def peek(self, scope: str, key: str, limit: int, window_s: int) -> Budget:
        start, reset = self._window(window_s)
        if self._redis is not None:
            raw = await self._redis.get(f"{self._prefix}:{scope}:{key}:{start}")
            used = int(raw) if raw is not None else 0
        else:
            old_start, count = self._memory.get(f"{scope}:{key}", (start, 0))
            used = count if old_start == start else 0
        return Budget(limit, used, window_s, reset)
