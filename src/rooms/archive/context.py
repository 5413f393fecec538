"""What a command-line process holds: the database, the blob store, and enough of the rest
for the services it calls (`recordings.service.ingest`, `remove_takes`, the retention sweeps).

No live hub and no stream supervisor. With Redis, events go to the api processes through
Redis pub/sub and jobs to arq (so `rooms worker` renders an imported FOSSIL take at once);
without Redis there is nobody to tell in this process: events are dropped and jobs left to
the server's level-triggered sweeps (`sweep_renders` queues a missing render within 5 min).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from redis.asyncio import Redis

from rooms.config import Settings
from rooms.db import Database
from rooms.jobs import JobQueue, JobStats
from rooms.jobs.catalog import load_jobs
from rooms.kit.ratelimit import RateLimiter
from rooms.kit.store import make_store
from rooms.live.bus import RedisPublisher
from rooms.live.surface import Publisher
from rooms.logging import get_logger
from rooms.metrics import Metrics
from rooms.resources import Resources, open_store

log = get_logger("rooms.archive")


class NoEvents:
    """A publisher for a process nobody listens to."""

    async def publish(self, topic: str, event: Any) -> None:
        return None


class LeftToSweeps:
    """A job queue that queues nothing: the server's level-triggered sweeps do the work."""

    backend = "deferred"

    def __init__(self) -> None:
        self.deferred = 0

    async def enqueue(self, name: str, *args: Any, job_id: str | None = None) -> bool:
        self.deferred += 1
        return False

    async def stats(self) -> JobStats:
        return JobStats(backend=self.backend, depth=0, running=0, completed=0,
                        heartbeat_age_s=None)

    async def __aenter__(self) -> LeftToSweeps:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


@asynccontextmanager
async def cli_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Resources for a command (`rooms import`, `backup`, `restore`, `archive-day`);
    `settings` must already carry the instance's secrets (`instance.ensure_secrets`)."""
    async with AsyncExitStack() as stack:
        db = Database(settings.resolved_database_url, guard=settings.db_write_guard,
                      synchronous=settings.sqlite_synchronous)
        stack.push_async_callback(db.aclose)
        blobs = await open_store(settings)
        stack.push_async_callback(blobs.aclose)
        redis: Redis | None = None
        events: Publisher = NoEvents()
        jobs: JobQueue = LeftToSweeps()
        load_jobs()
        if settings.redis_url:
            from rooms.jobs.arq_queue import ArqQueue

            redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                   socket_timeout=5)
            stack.push_async_callback(redis.aclose)
            events = RedisPublisher(redis, node=f"cli-{secrets.token_hex(3)}")
            jobs = await ArqQueue.connect(settings.redis_url)
        await stack.enter_async_context(jobs)
        store = make_store(redis, settings.redis_url)
        res = Resources(settings=settings, db=db, blobs=blobs, redis=redis, jobs=jobs,
                        events=events, hub=None, supervisor=None, metrics=Metrics(),
                        role="worker", store=store, limiter=RateLimiter(store))

        async def close_extras() -> None:
            for value in list(res.extras.values()):
                close = getattr(value, "aclose", None)
                if close is not None:
                    await close()

        stack.push_async_callback(close_extras)
        yield res
