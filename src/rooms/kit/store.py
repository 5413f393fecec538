"""Small shared state with expiry: Redis when configured, this process's memory otherwise.

Rate limits, the sign-in lockout, used live tokens and signed-out sessions keep their state
here; pool acks do not (the database makes those exactly-once). One interface, `Store`:

    await store.incr(key, ttl_s)          -> count; the key lives ttl_s after this call
    await store.add(key, ttl_s)           -> True when the key was absent (set if absent)
    await store.get(key) / set(key, value, ttl_s) / delete(key)
    await store.hit(item, *ids)           -> a moving-window rate-limit hit (`limits`)
    await store.window(item, *ids)        -> that window's stats, counting nothing

`MemoryStore` is the embedded store. With REDIS_URL the store is a `FallbackStore`, which is
also the one failure policy: Redis is the shared truth; every write but a counter also
lands in this process's memory; when Redis does not answer (refused, timed out), each call
is answered from that memory instead of failing, writes made meanwhile are replayed to
Redis when it answers again, and Redis is not asked again for `retry_s` (so an unreachable
host costs one timeout, not one per request). A caller that must not act on a
process-local answer asks with `strict=True` and gets `StoreUnavailable`. The README's
"When Redis is away" table says which use does which.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from rooms.logging import get_logger

if TYPE_CHECKING:
    # `limits` (~2.6 MiB) loads with the first rate-limited request, redis only where a Redis
    # is configured (README "Idle memory")
    from limits import RateLimitItem, WindowStats
    from limits.aio.strategies import MovingWindowRateLimiter
    from redis.asyncio import Redis

log = get_logger("rooms.kit.store")

T = TypeVar("T")
Clock = Callable[[], float]
PREFIX = "rooms:"


class StoreUnavailable(Exception):
    """The shared store did not answer and the caller asked for no process-local answer."""


class Store(Protocol):
    async def incr(self, key: str, ttl_s: float) -> int: ...

    async def add(self, key: str, ttl_s: float, *, strict: bool = False) -> bool: ...

    async def get(self, key: str) -> str | None: ...

    async def set(self, key: str, value: str, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def hit(self, item: RateLimitItem, *ids: str) -> bool: ...

    async def window(self, item: RateLimitItem, *ids: str) -> WindowStats: ...


class MemoryStore:
    """This process's memory; expired keys are forgotten as the map grows."""

    def __init__(self, *, clock: Clock = time.time) -> None:
        self.clock = clock  # public so tests can move time instead of sleeping
        self._data: dict[str, tuple[str | int, float]] = {}  # key -> (value, expires at)
        self._prune_at = 1024
        self._window_limiter: MovingWindowRateLimiter | None = None

    @property
    def _limiter(self) -> MovingWindowRateLimiter:
        """The moving-window limiter, built (and `limits` imported) on first use."""
        if self._window_limiter is None:
            from limits.aio.storage import MemoryStorage
            from limits.aio.strategies import MovingWindowRateLimiter

            self._window_limiter = MovingWindowRateLimiter(MemoryStorage())
        return self._window_limiter

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str) -> str | int | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._data[key]
            return None
        return entry[0]

    def _put(self, key: str, value: str | int, ttl_s: float) -> None:
        now = self.clock()
        if len(self._data) >= self._prune_at:
            self._data = {k: v for k, v in self._data.items() if v[1] > now}
            self._prune_at = max(1024, 2 * len(self._data))
        self._data[key] = (value, now + ttl_s)

    async def incr(self, key: str, ttl_s: float) -> int:
        count = int(self._live(key) or 0) + 1
        self._put(key, count, ttl_s)
        return count

    async def add(self, key: str, ttl_s: float, *, strict: bool = False) -> bool:
        if self._live(key) is not None:
            return False
        self._put(key, "1", ttl_s)
        return True

    async def get(self, key: str) -> str | None:
        value = self._live(key)
        return None if value is None else str(value)

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        self._put(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        return await self._limiter.hit(item, *ids)

    async def window(self, item: RateLimitItem, *ids: str) -> WindowStats:
        return await self._limiter.get_window_stats(item, *ids)


def _limits_uri(redis_url: str) -> str:
    """`limits`' spelling of a REDIS_URL (its async schemes carry an `async+` prefix)."""
    if redis_url.startswith("unix://"):
        return "async+redis+unix://" + redis_url.removeprefix("unix://")
    return "async+" + redis_url


class RedisStore:
    """The same operations in Redis, on the app's connection pool. Errors propagate."""

    def __init__(self, redis: Redis, redis_url: str, *, prefix: str = PREFIX) -> None:
        self._redis = redis
        self._prefix = prefix
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        storage = RedisStorage(_limits_uri(redis_url), implementation="redispy",
                               key_prefix=f"{prefix}rl",
                               connection_pool=redis.connection_pool)  # type: ignore[arg-type]
        self._limiter = MovingWindowRateLimiter(storage)

    async def incr(self, key: str, ttl_s: float) -> int:
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._prefix + key)
        pipe.pexpire(self._prefix + key, _ms(ttl_s))
        return int((await pipe.execute())[0])

    async def add(self, key: str, ttl_s: float, *, strict: bool = False) -> bool:
        return bool(await self._redis.set(self._prefix + key, b"1", nx=True, px=_ms(ttl_s)))

    async def get(self, key: str) -> str | None:
        raw = await self._redis.get(self._prefix + key)
        return None if raw is None else bytes(raw).decode()

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self._redis.set(self._prefix + key, value.encode(), px=_ms(ttl_s))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        return await self._limiter.hit(item, *ids)

    async def window(self, item: RateLimitItem, *ids: str) -> WindowStats:
        return await self._limiter.get_window_stats(item, *ids)


def _ms(ttl_s: float) -> int:
    return max(1, math.ceil(ttl_s * 1000))


def _down_errors() -> tuple[type[BaseException], ...]:
    """What "Redis did not answer" looks like (redis is imported only where it is used)."""
    from redis.exceptions import RedisError

    return (RedisError, OSError, TimeoutError)


class FallbackStore:
    """Redis, answered from this process's memory while Redis is away (module docstring)."""

    def __init__(self, redis: RedisStore, local: MemoryStore | None = None, *,
                 retry_s: float = 2.0, clock: Clock = time.monotonic,
                 on_fallback: Callable[[str], None] | None = None) -> None:
        self.redis = redis
        self.local = local or MemoryStore()
        self.retry_s = retry_s
        self.clock = clock  # public so tests can move past `retry_s` instead of sleeping
        self._on_fallback = on_fallback
        self._skip_until = 0.0
        self._down = False
        self._errors = _down_errors()
        # writes Redis missed: key -> (value or None for a delete, wall expiry, set-if-absent)
        self._pending: dict[str, tuple[str | None, float, bool]] = {}

    async def _ask(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call()` against Redis, or StoreUnavailable (logged once per outage)."""
        if self._down and self.clock() < self._skip_until:
            self._fell_back(op)
            raise StoreUnavailable(op)
        try:
            result = await call()
        except self._errors as exc:
            if not self._down:
                log.warning("store.redis_unavailable", op=op, error=type(exc).__name__)
            self._down = True
            self._skip_until = self.clock() + self.retry_s
            self._fell_back(op)
            raise StoreUnavailable(op) from None
        if self._down:
            self._down = False
            log.info("store.redis_recovered", replaying=len(self._pending))
            await self._replay()
        return result

    def _fell_back(self, op: str) -> None:
        if self._on_fallback is not None:
            self._on_fallback(op)

    def _remember(self, key: str, value: str | None, ttl_s: float, *, nx: bool = False) -> None:
        if len(self._pending) < 100_000:  # past that, an outage's writes stay local
            self._pending[key] = (value, time.time() + ttl_s, nx)

    async def _replay(self) -> None:
        """Write what Redis missed; stop at the first error (the rest waits for next time)."""
        now = time.time()
        for key, (value, expires_at, nx) in list(self._pending.items()):
            try:
                if value is None:
                    await self.redis.delete(key)
                elif expires_at > now and nx:
                    await self.redis.add(key, expires_at - now)
                elif expires_at > now:
                    await self.redis.set(key, value, expires_at - now)
            except self._errors:
                return
            del self._pending[key]

    async def incr(self, key: str, ttl_s: float) -> int:
        try:
            return await self._ask("incr", lambda: self.redis.incr(key, ttl_s))
        except StoreUnavailable:
            return await self.local.incr(key, ttl_s)

    async def add(self, key: str, ttl_s: float, *, strict: bool = False) -> bool:
        if await self.local.get(key) is not None:  # known here (even if Redis lost it)
            return False
        try:
            added = await self._ask("add", lambda: self.redis.add(key, ttl_s))
        except StoreUnavailable:
            if strict:
                raise
            self._remember(key, "1", ttl_s, nx=True)
            return await self.local.add(key, ttl_s)
        if added:  # also here, so this process still knows it if Redis goes away
            await self.local.set(key, "1", ttl_s)
            return True
        return False

    async def get(self, key: str) -> str | None:
        try:
            value = await self._ask("get", lambda: self.redis.get(key))
        except StoreUnavailable:
            value = None
        return value if value is not None else await self.local.get(key)

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        await self.local.set(key, value, ttl_s)
        try:
            await self._ask("set", lambda: self.redis.set(key, value, ttl_s))
        except StoreUnavailable:
            self._remember(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        await self.local.delete(key)
        try:
            await self._ask("delete", lambda: self.redis.delete(key))
        except StoreUnavailable:
            self._remember(key, None, 3600)

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        try:
            return await self._ask("hit", lambda: self.redis.hit(item, *ids))
        except StoreUnavailable:
            return await self.local.hit(item, *ids)

    async def window(self, item: RateLimitItem, *ids: str) -> WindowStats:
        try:
            return await self._ask("window", lambda: self.redis.window(item, *ids))
        except StoreUnavailable:
            return await self.local.window(item, *ids)


def make_store(redis: Redis | None, redis_url: str, *,
               on_fallback: Callable[[str], None] | None = None) -> Store:
    """The store for this deployment: memory when embedded, Redis with its fallback else."""
    if redis is None:
        return MemoryStore()
    return FallbackStore(RedisStore(redis, redis_url), on_fallback=on_fallback)
