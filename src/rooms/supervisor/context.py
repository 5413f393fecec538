"""What a worker coroutine is given: publishing, a heartbeat, settings, time and chance."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.streams.store import SeekStore
from rooms.streams.stream import Commons, Stream


@dataclass
class WorkerContext:
    """One run of one worker. `heartbeat()` says "alive"; silence past the task's
    `health_timeout_s` gets the run cancelled and restarted. `sleep` and `rng` are the
    seams tests replace.

    `seek` is the supervisor's beacon/subscription store (None: the worker makes the file
    store of its settings); `commons` the supervisor's commons when the task opted in
    (`commons: true`), else None. `stream`, when the supervisor set one, turns every
    `publish` on its topic into a tick of that seeking stream."""

    name: str
    settings: Settings
    hub: Hub
    clock: Callable[[], float]
    beat: Callable[[], None]
    rng: random.Random = field(default_factory=random.Random)
    seek: SeekStore | None = None
    commons: Commons | None = None
    stream: Stream | None = None

    def heartbeat(self) -> None:
        self.beat()

    async def publish(self, topic: str, event: Mapping[str, Any]) -> None:
        if self.stream is not None and topic == self.stream.topic:
            await self.stream.tick(dict(event))
        else:
            await self.hub.publish(topic, event)
        self.beat()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
