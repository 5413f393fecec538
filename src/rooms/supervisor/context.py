"""What a worker coroutine is given: publishing, a heartbeat, settings, time and chance."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rooms.config import Settings
from rooms.live.hub import Hub


@dataclass
class WorkerContext:
    """One run of one worker. `heartbeat()` says "alive"; silence past the task's
    `health_timeout_s` gets the run cancelled and restarted. `sleep` and `rng` are the
    seams tests replace."""

    name: str
    settings: Settings
    hub: Hub
    clock: Callable[[], float]
    beat: Callable[[], None]
    rng: random.Random = field(default_factory=random.Random)

    def heartbeat(self) -> None:
        self.beat()

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        await self.hub.publish(topic, event)
        self.beat()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
