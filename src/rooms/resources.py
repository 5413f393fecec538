"""Everything a process holds for its lifetime, built in one place for the API and the worker.

`open_resources(settings, role="api")` builds the database, blob store, Redis, job queue,
live hub and stream supervisor; `role="worker"` (the arq worker) builds the same minus the
hub and supervisor, and publishes its events to the api processes through Redis. Both hand
the result to `rooms.uow.unit_of_work`, so a job and a request see the same resources.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from rooms import steward
from rooms.access.lockout import LoginLockout
from rooms.access.sessions import OpsSessions
from rooms.config import Settings
from rooms.db import Database
from rooms.jobs import JobQueue
from rooms.jobs.catalog import load_jobs
from rooms.kit.ratelimit import RateLimiter
from rooms.kit.store import MemoryStore, Store, make_store
from rooms.live.bus import RedisPublisher
from rooms.live.hub import Hub
from rooms.live.surface import Publisher as Events
from rooms.logging import get_logger
from rooms.metrics import Metrics
from rooms.storage import BlobStore, open_blob_store
from rooms.supervisor import Supervisor, build_supervisor
from rooms.supervisor.leader import ClusterStreams, Leadership

if TYPE_CHECKING:  # redis loads only where a Redis is configured
    from redis.asyncio import Redis

log = get_logger("rooms.resources")

Role = Literal["api", "worker"]


@dataclass
class Resources:
    settings: Settings
    db: Database
    blobs: BlobStore
    redis: Redis | None
    jobs: JobQueue
    events: Events
    hub: Hub | None
    supervisor: Supervisor | None
    metrics: Metrics
    role: Role = "api"
    store: Store = field(default_factory=MemoryStore)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ops_sessions: OpsSessions = field(default_factory=OpsSessions)
    ops_lockout: LoginLockout = field(default_factory=LoginLockout)
    started_at: float = field(default_factory=time.time)
    extras: dict[str, Any] = field(default_factory=dict)
    leadership: Leadership | None = None  # with Redis: the stream-leader lock (api only)

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.db.sessions

    @property
    def live(self) -> Hub:
        """The hub (api processes only)."""
        assert self.hub is not None, "the live hub runs in api processes only"
        return self.hub

    @property
    def streams(self) -> ClusterStreams:
        """The stream workers as the cluster's leader runs them (api processes only): this
        process's supervisor when it leads, else the leader's state read over Redis."""
        assert self.supervisor is not None, "the supervisor runs in api processes only"
        return ClusterStreams(self.supervisor, self.leadership)

    def job_context(self) -> dict[str, Any]:
        """What a job sees, in either runner: the resources, and the keys older jobs read."""
        return {"resources": self, "settings": self.settings, "engine": self.engine,
                "sessions": self.sessions, "blobs": self.blobs, "redis": self.redis}


async def open_store(settings: Settings) -> BlobStore:
    return await open_blob_store(
        settings.resolved_blob_store_url,
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        region=settings.s3_region,
        staging=settings.var_dir / "spool",  # where an S3 store spools uploads
    )


async def _close_extras(res: Resources) -> None:
    """Close what was made on first use and kept in `extras` (the render pool)."""
    for value in list(res.extras.values()):
        close = getattr(value, "aclose", None)
        if close is not None:
            await close()


async def _quiet_now(db: Database) -> bool:
    """The steward's quiet mode at start-up (the supervisor follows later changes)."""
    try:
        return (await db.read(steward.read_sync)).quieter_mode
    except Exception as exc:  # the database may come later; /healthz says so meanwhile
        log.warning("supervisor.quiet_unknown", error=type(exc).__name__)
        return False


@asynccontextmanager
async def open_resources(settings: Settings, *, role: Role = "api") -> AsyncIterator[Resources]:
    """Build what a process of `role` needs; close it in reverse order on exit."""
    async with AsyncExitStack() as stack:
        db = Database(settings.resolved_database_url, guard=settings.db_write_guard,
                      synchronous=settings.sqlite_synchronous,
                      pool_size=settings.database_pool_size,
                      max_overflow=settings.database_max_overflow)
        stack.push_async_callback(db.aclose)
        blobs = await open_store(settings)
        stack.push_async_callback(blobs.aclose)
        redis: Redis | None = None
        if settings.redis_url:
            from redis.asyncio import Redis

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
                           on_fallback=lambda op: metrics.store_fallbacks.labels(op).inc(),
                           max_keys=settings.store_memory_max_keys,
                           on_full=lambda m: metrics.store_memory_full.labels(m).inc())
        hub: Hub | None = None
        supervisor: Supervisor | None = None
        events: Events
        if role == "api":
            hub = events = Hub(settings=settings, redis=redis, store=store)
            supervisor = build_supervisor(settings, hub, quiet=await _quiet_now(db))
            if redis is not None:
                supervisor.set_leader(False)  # until this process holds the leader lock
        elif redis is not None:
            events = RedisPublisher(redis, node=f"worker-{secrets.token_hex(3)}")
        else:
            raise ValueError("a worker process needs REDIS_URL")
        res = Resources(settings=settings, db=db, blobs=blobs, redis=redis, jobs=jobs,
                        events=events, hub=hub, supervisor=supervisor, metrics=metrics,
                        role=role, store=store, limiter=RateLimiter(store),
                        ops_sessions=OpsSessions(store), ops_lockout=LoginLockout(store))
        ctx.update(res.job_context())
        stack.push_async_callback(_close_extras, res)  # after the jobs that use them
        await stack.enter_async_context(jobs)
        if hub is not None and supervisor is not None:
            await stack.enter_async_context(hub)
            await stack.enter_async_context(steward.follow(res))
            await stack.enter_async_context(supervisor)
            if redis is not None:  # one stream leader per cluster (rooms.supervisor.leader)
                res.leadership = await stack.enter_async_context(
                    Leadership(supervisor, hub, redis, ttl_s=settings.leader_ttl_s))
        yield res
