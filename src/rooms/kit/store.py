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

Bounds. Every key expires (a window when its last hit has left it), and a `MemoryStore`
also holds at most `max_keys` (STORE_MEMORY_MAX_KEYS) keys in each of its three maps, so
clients choosing new keys (a fresh X-Rooms-Client-Id per request) cannot grow it without
end. When a map is full (logged `store.memory_full` at most once a minute, counted in
`rooms_store_memory_full_total{map}`):
- windows and counters forget the key used least recently. That gives a budget or a
  failure count back to the client or IP that has gone unseen the longest, never to the
  one asking: an IP is touched (`window`) before any key of its clients is made
  (`recordings.throttle.charge`), and a spent or locked IP makes none, so pushing an IP's
  own entry out takes `max_keys` new keys from other IPs, each within its own budget
  (with the defaults, 50,000 / 601 = 84 IPs each spending its 600 uploads an hour), whose
  budgets that attacker holds anyway. A window costs ~330 bytes, so a full map ~16 MB;
- marks (used live tokens, signed-out sessions, lock end times) are never forgotten before
  they expire: a full map refuses a new `add` (`StoreFull`, a `StoreUnavailable`: a
  live token is then refused "try again") and still stores a `set`, whose writers are
  bounded (a sign-out by a signed-in operator; a lock after 6 or 30 failed sign-ins).
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from rooms.logging import get_logger

if TYPE_CHECKING:
    # `limits` (~2.6 MiB) loads with the first rate-limited request, redis only where a Redis
    # is configured (README "Idle memory")
    from limits import RateLimitItem, WindowStats
    from redis.asyncio import Redis

log = get_logger("rooms.kit.store")

T = TypeVar("T")
Clock = Callable[[], float]
PREFIX = "rooms:"
MAX_KEYS = 50_000  # per map of a MemoryStore (STORE_MEMORY_MAX_KEYS)


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


class StoreFull(StoreUnavailable):
    """This process's memory already holds `max_keys` unexpired marks: a new one is refused
    (an old one is never forgotten early). Callers treat it as the store not answering."""


class _Window:
    """One moving-window budget: the times of the hits still inside it, oldest first."""

    __slots__ = ("span", "stamps")

    def __init__(self, span: float) -> None:
        self.span = span
        self.stamps: list[float] = []

    def trim(self, now: float) -> None:
        """Forget the hits that have left the window (a hit at now - span still counts)."""
        if self.stamps and self.stamps[0] < now - self.span:
            del self.stamps[:bisect.bisect_left(self.stamps, now - self.span)]

    def expired(self, now: float) -> bool:
        return not self.stamps or self.stamps[-1] < now - self.span


class MemoryStore:
    """This process's memory, bounded in time and in keys (module docstring, "Bounds").

    Three maps, each holding at most `max_keys` keys: moving windows (`hit`, `window`) and
    counters (`incr`) forget their least recently used key to make room for a new one;
    marks (`add`, `set`) are never forgotten before they expire (a heap of expiries drops
    them on time), so a full map refuses a new `add` with `StoreFull` (`set` is always
    stored: its writers are bounded, see "Bounds"). `on_full(map)` is called for each
    unexpired key forgotten or refused that way.
    """

    def __init__(self, *, clock: Clock = time.time, max_keys: int = MAX_KEYS,
                 on_full: Callable[[str], None] | None = None) -> None:
        self.clock = clock  # public so tests can move time instead of sleeping
        self.max_keys = max_keys
        self._on_full = on_full
        # Insertion order is use order (a used key is popped and put back at the end).
        self._windows: dict[str, _Window] = {}
        self._counters: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
        self._marks: dict[str, tuple[str, float]] = {}  # key -> (value, expires at)
        self._mark_expiries: list[tuple[float, str]] = []  # heap: (expires at, key)
        self._prune_at = {"windows": 1024, "counters": 1024}  # prune expired keys at this size
        self._since_prune = {"windows": 0, "counters": 0}  # new keys since the last prune
        self._warned_at = -math.inf

    def __len__(self) -> int:
        return len(self._windows) + len(self._counters) + len(self._marks)

    def sizes(self) -> dict[str, int]:
        """Keys held per map (`windows`, `counters`, `marks`), expired ones included."""
        return {"windows": len(self._windows), "counters": len(self._counters),
                "marks": len(self._marks)}

    def _room(self, name: str, table: dict[str, Any], expired: Callable[[Any], bool]) -> None:
        """Make room in a use-ordered map for one new key: expired keys go first (the least
        recently used one, at once; all of them in a pass when the map has doubled, or
        when it is full and half of `max_keys` new keys came since the last pass:
        amortised O(1) a key); when it is still full, the least recently used key goes."""
        self._since_prune[name] += 1
        size = len(table)
        if size >= self._prune_at[name] or (
                size >= self.max_keys and self._since_prune[name] >= self.max_keys // 2):
            for key in [k for k, v in table.items() if expired(v)]:
                del table[key]
            self._prune_at[name] = max(1024, 2 * len(table))
            self._since_prune[name] = 0
        if len(table) < self.max_keys:
            return
        oldest = next(iter(table))
        if not expired(table[oldest]):
            self._full(name, len(table))
        del table[oldest]

    def _expire_marks(self, now: float) -> None:
        """Forget the marks whose time is up, soonest first (a heap of (expiry, key); an
        entry whose mark was since deleted or written again is skipped)."""
        heap, marks = self._mark_expiries, self._marks
        while heap and heap[0][0] <= now:
            expires_at, key = heapq.heappop(heap)
            entry = marks.get(key)
            if entry is not None and entry[1] == expires_at:
                del marks[key]
        if len(heap) > 2 * len(marks) + 1024:  # too many skipped entries: rebuild
            self._mark_expiries = [(v[1], k) for k, v in marks.items()]
            heapq.heapify(self._mark_expiries)

    def _put_mark(self, key: str, value: str, expires_at: float) -> None:
        self._marks[key] = (value, expires_at)
        heapq.heappush(self._mark_expiries, (expires_at, key))

    def _full(self, name: str, size: int) -> None:
        if self._on_full is not None:
            self._on_full(name)
        now = time.monotonic()
        if now - self._warned_at >= 60:  # at most once a minute
            self._warned_at = now
            log.warning("store.memory_full", map=name, keys=size, max_keys=self.max_keys,
                        action="refuse" if name == "marks" else "forget_least_recent")

    def _mark(self, key: str) -> str | None:
        entry = self._marks.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._marks[key]
            return None
        return entry[0]

    async def incr(self, key: str, ttl_s: float) -> int:
        now = self.clock()
        entry = self._counters.pop(key, None)
        if entry is None:
            self._room("counters", self._counters, lambda v: v[1] <= now)
        count = entry[0] + 1 if entry is not None and entry[1] > now else 1
        self._counters[key] = (count, now + ttl_s)
        return count

    async def add(self, key: str, ttl_s: float, *, strict: bool = False) -> bool:
        now = self.clock()
        self._expire_marks(now)
        if self._mark(key) is not None:
            return False
        if len(self._marks) >= self.max_keys:
            self._full("marks", len(self._marks))
            raise StoreFull("add")
        self._put_mark(key, "1", now + ttl_s)
        return True

    async def get(self, key: str) -> str | None:
        value = self._mark(key)
        if value is not None:
            return value
        entry = self._counters.get(key)
        return str(entry[0]) if entry is not None and entry[1] > self.clock() else None

    async def set(self, key: str, value: str, ttl_s: float) -> None:
        now = self.clock()
        self._expire_marks(now)
        self._put_mark(key, value, now + ttl_s)  # stored even when full (bounded writers)

    async def delete(self, key: str) -> None:
        self._marks.pop(key, None)
        self._counters.pop(key, None)

    async def hit(self, item: RateLimitItem, *ids: str) -> bool:
        """A moving-window hit, as `limits`' MovingWindowRateLimiter counts it (a refused
        hit is not counted), on this store's clock."""
        key, now = item.key_for(*ids), self.clock()
        window = self._windows.pop(key, None)
        if window is None:
            self._room("windows", self._windows, lambda w: w.expired(now))
            window = _Window(float(item.get_expiry()))
        window.trim(now)
        self._windows[key] = window
        if len(window.stamps) >= item.amount:
            return False
        window.stamps.append(now)
        return True

    async def window(self, item: RateLimitItem, *ids: str) -> WindowStats:
        """The window's stats (`reset_time` in wall-clock seconds, as `limits` gives it);
        counts nothing and adds no key, but counts as a use of a key it finds."""
        key, now, span = item.key_for(*ids), self.clock(), float(item.get_expiry())
        window = self._windows.pop(key, None)
        if window is not None:
            window.trim(now)
            self._windows[key] = window
        from limits import WindowStats  # loaded by the caller's RateLimitItem already

        if window is None or not window.stamps:
            return WindowStats(time.time() + span, item.amount)
        return WindowStats(time.time() + window.stamps[0] + span - now,
                           max(0, item.amount - len(window.stamps)))


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
            with contextlib.suppress(StoreFull):  # Redis has it; only an outage would miss it
                await self.local.add(key, ttl_s)
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
               on_fallback: Callable[[str], None] | None = None, max_keys: int = MAX_KEYS,
               on_full: Callable[[str], None] | None = None) -> Store:
    """The store for this deployment: memory when embedded, Redis with its fallback else
    (its process-local memory bounded the same way)."""
    local = MemoryStore(max_keys=max_keys, on_full=on_full)
    if redis is None:
        return local
    return FallbackStore(RedisStore(redis, redis_url), local, on_fallback=on_fallback)
