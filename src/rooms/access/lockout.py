"""Sign-in lockout: after N failed attempts a client is refused for a fixed time.

Keys are a client (`rooms.access.operator.lockout_key`) or an IP (`ip_lockout_key`), each with its
own `max_attempts`. Not a rate-limit window: failures are counted per key until `lockout_s` pass
without one; the Nth starts a lock that lasts exactly `lockout_s`, right secret or not. The
lock stores its end time (read against `clock`, so tests move time instead of sleeping).
State lives in the shared store (`rooms.kit.store`): in Redis with REDIS_URL, so every
process shares it; if Redis stops answering, this process keeps counting on its own.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from rooms.kit.store import MemoryStore, Store
from rooms.kit.tokens import Clock

FAIL = "ops:login:fail:"
LOCK = "ops:login:lock:"


@dataclass(frozen=True, slots=True)
class Attempt:
    failures: int
    locked_for_s: int  # 0 when not locked


class LoginLockout:
    def __init__(self, store: Store | None = None, *, clock: Clock = time.time) -> None:
        self.store: Store = store if store is not None else MemoryStore()
        self.clock = clock

    async def locked_for(self, *keys: str) -> int:
        """Seconds left on the longest lock of these keys (0: none locked)."""
        until = 0.0
        for key in keys:
            raw = await self.store.get(LOCK + key)
            with contextlib.suppress(ValueError):
                until = max(until, float(raw) if raw is not None else 0.0)
        left = until - self.clock()
        return math.ceil(left) if left > 0 else 0

    async def fail(self, key: str, *, max_attempts: int, lockout_s: int) -> Attempt:
        """Count one failure; lock the client when it is the `max_attempts`th."""
        count = await self.store.incr(FAIL + key, lockout_s)
        if count < max_attempts:
            return Attempt(count, 0)
        await self.store.set(LOCK + key, repr(self.clock() + lockout_s), lockout_s + 60)
        await self.store.delete(FAIL + key)
        return Attempt(count, lockout_s)

    async def clear(self, key: str) -> None:
        """A successful sign-in forgets the client's earlier failures."""
        await self.store.delete(FAIL + key)
