"""Everything the app holds for its lifetime, built in one place for the API and the worker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rooms.config import Settings
from rooms.db import create_engine, create_sqlite_writer, session_factory
from rooms.jobs import JobQueue
from rooms.jobs.catalog import load_jobs
from rooms.kit.ratelimit import RateLimiter
from rooms.kit.store import MemoryStore, Store, make_store
from rooms.live.hub import Hub
from rooms.metrics import Metrics
from rooms.ops.lockout import LoginLockout
from rooms.ops.sessions import OpsSessions
from rooms.storage import BlobStore, open_blob_store
from rooms.supervisor import Supervisor, build_supervisor


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    redis: Redis | None
    jobs: JobQueue
    hub: Hub
    supervisor: Supervisor
    metrics: Metrics
    store: Store = field(default_factory=MemoryStore)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ops_sessions: OpsSessions = field(default_factory=OpsSessions)
    ops_lockout: LoginLockout = field(default_factory=LoginLockout)
    write_lock: asyncio.Lock | None = None
    sqlite_writer: Engine | None = None
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)

    def job_context(self) -> dict[str, Any]:
        """What an in-process job sees: the same keys the arq worker's on_startup sets."""
        return {"settings": self.settings, "engine": self.engine, "sessions": self.sessions,
                "blobs": self.blobs, "redis": self.redis}


async def open_store(settings: Settings) -> BlobStore:
    return await open_blob_store(
        settings.resolved_blob_store_url,
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
    )


@asynccontextmanager
async def open_resources(settings: Settings) -> AsyncIterator[Resources]:
    """Build engine, blob store, Redis, job queue, hub and supervisor; close them in reverse."""
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.resolved_database_url)
        stack.push_async_callback(engine.dispose)
        sqlite_writer = create_sqlite_writer(settings.resolved_database_url)
        if sqlite_writer is not None:
            stack.callback(sqlite_writer.dispose)
        blobs = await open_store(settings)
        stack.push_async_callback(blobs.aclose)
        redis: Redis | None = None
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                   socket_timeout=5, health_check_interval=30)
            stack.push_async_callback(redis.aclose)
        metrics = Metrics()
        load_jobs()
        ctx: dict[str, Any] = {}
        jobs: JobQueue
        if settings.redis_url:
            from rooms.jobs.arq_queue import ArqQueue

            jobs = await ArqQueue.connect(settings.redis_url)
        else:
            from rooms.jobs.inprocess import InProcessQueue

            jobs = InProcessQueue(ctx, maxsize=settings.job_queue_size, concurrency=2,
                                  default_timeout_s=settings.job_timeout_s,
                                  default_max_tries=settings.job_max_tries)
        store = make_store(redis, settings.redis_url,
                           on_fallback=lambda op: metrics.store_fallbacks.labels(op).inc())
        hub = Hub(settings=settings, redis=redis, store=store)
        sessions = session_factory(engine)
        supervisor = await build_supervisor(settings, hub, sessions)
        res = Resources(settings=settings, engine=engine, sessions=sessions,
                        blobs=blobs, redis=redis, jobs=jobs, hub=hub, supervisor=supervisor,
                        metrics=metrics, store=store, limiter=RateLimiter(store),
                        ops_sessions=OpsSessions(store), ops_lockout=LoginLockout(store),
                        write_lock=asyncio.Lock() if settings.embedded else None,
                        sqlite_writer=sqlite_writer)
        ctx.update(res.job_context())
        await stack.enter_async_context(jobs)
        await stack.enter_async_context(hub)
        await stack.enter_async_context(supervisor)
        yield res
