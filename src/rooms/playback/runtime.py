"""Per-process pool state: the injectable RNG and clock, and a short read cache.

pool/next is the room's hottest request. The steward's switches, the pool size and the
densities of the last heard takes change slowly and may be a second old (like the intake
switch), so each is read at most once per `cache_ttl_s` per process. While one request
refreshes a value (`claim` ... `store`), the others keep answering with the previous one
instead of running the same COUNT at the same time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rooms.models import utcnow
from rooms.resources import Resources

CACHE_TTL_S = 1.0


@dataclass
class PoolRuntime:
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], datetime] = utcnow
    monotonic: Callable[[], float] = time.monotonic
    cache_ttl_s: float = CACHE_TTL_S
    _values: dict[str, tuple[float, Any]] = field(default_factory=dict)
    _loading: set[str] = field(default_factory=set)

    def claim(self, key: str) -> bool:
        """True when this caller should (re)load `key`: it is missing, or it is stale and
        nobody else is reloading it. Follow with `store` (or `release` on failure)."""
        held = self._values.get(key)
        if held is not None and (self.monotonic() - held[0] < self.cache_ttl_s
                                 or key in self._loading):
            return False
        self._loading.add(key)
        return True

    def store(self, key: str, value: Any) -> None:
        self._values[key] = (self.monotonic(), value)
        self._loading.discard(key)

    def release(self, keys: Iterable[str]) -> None:
        self._loading.difference_update(keys)

    def get(self, key: str) -> Any:
        held = self._values.get(key)
        return None if held is None else held[1]

    def forget(self) -> None:
        self._values.clear()


def pool_runtime(res: Resources) -> PoolRuntime:
    runtime = res.extras.get("pool")
    if not isinstance(runtime, PoolRuntime):
        runtime = res.extras["pool"] = PoolRuntime()
    return runtime
