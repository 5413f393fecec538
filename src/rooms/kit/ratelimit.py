"""Moving-window rate limits (the `limits` library) on the shared store.

A budget of N per W seconds allows a hit when fewer than N hits fall in the last W seconds,
so there is no window edge where 2N can pass. A refused hit is not counted. The state lives
in `rooms.kit.store` (Redis with its process-local fallback, or memory).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rooms.kit.store import MemoryStore, Store

if TYPE_CHECKING:
    from limits import RateLimitItem

NAMESPACE = "rooms"


@dataclass(frozen=True, slots=True)
class Budget:
    limit: int
    remaining: int
    window_s: int
    reset_in_s: int  # seconds until one more hit fits (>= 1)


class RateLimiter:
    """`hit(scope, key, limit, window_s)` counts one event if it fits; `peek` counts none."""

    def __init__(self, store: Store | None = None) -> None:
        self.store: Store = store if store is not None else MemoryStore()

    async def hit(self, scope: str, key: str, limit: int, window_s: int) -> bool:
        """Count one event against `key`'s budget; False (and nothing counted) when spent."""
        return await self.store.hit(_item(limit, window_s), scope, key)

    async def peek(self, scope: str, key: str, limit: int, window_s: int) -> Budget:
        """The budget as it stands (what is left, when the next hit fits)."""
        item = _item(limit, window_s)
        stats = await self.store.window(item, scope, key)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        return Budget(item.amount, max(0, stats.remaining), item.get_expiry(), reset)


def _item(limit: int, window_s: int) -> RateLimitItem:
    from limits import RateLimitItemPerSecond  # on the first rate-limited request (idle memory)

    return RateLimitItemPerSecond(limit, window_s, namespace=NAMESPACE)
