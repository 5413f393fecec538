"""In-memory broadcast hub (placeholder until the live issue lands).

The shape later code relies on: `publish(topic, event)`, `counts()`, `total`.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from rooms.config import Settings


class Hub:
    def __init__(self, *, settings: Settings, redis: Redis | None) -> None:
        self.settings = settings
        self.redis = redis
        self._counts: dict[str, int] = {}

    async def __aenter__(self) -> Hub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        return None

    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @property
    def total(self) -> int:
        return 0
