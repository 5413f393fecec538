"""The Redis-backed runner: arq, kept behind the same small interface so it can be swapped.

arq is maintenance-only upstream (its issue #510); nothing outside this module imports it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from arq import Retry, create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.cron import CronJob
from arq.cron import cron as arq_cron
from arq.worker import Function
from arq.worker import func as arq_func

from rooms.jobs.registry import CRONS, JOBS, CronSpec, JobContext, JobFunc, JobSpec, retry_delay_s
from rooms.jobs.stats import JobFailure, JobStats

HEARTBEAT_KEY = "rooms:jobs:heartbeat"
FAILURES_KEY = "rooms:jobs:failures"
QUEUE_NAME = "rooms:jobs"
ARQ_TIMEOUT_MARGIN_S = 5.0  # arq's own timeout is only a backstop behind ours


class ArqQueue:
    backend = "arq"

    def __init__(self, pool: ArqRedis) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, redis_url: str) -> ArqQueue:
        pool = await create_pool(RedisSettings.from_dsn(redis_url),
                                 default_queue_name=QUEUE_NAME)
        return cls(pool)

    async def __aenter__(self) -> ArqQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.pool.aclose()

    async def enqueue(self, name: str, *args: Any, job_id: str | None = None) -> bool:
        if name not in JOBS:
            raise KeyError(f"unknown job {name!r}")
        job = await self.pool.enqueue_job(name, *args, _job_id=job_id)
        return job is not None

    async def stats(self) -> JobStats:
        depth = int(await self.pool.zcard(QUEUE_NAME))
        beat = await self.pool.get(HEARTBEAT_KEY)
        age = time.time() - float(beat) if beat is not None else None
        raw = await self.pool.lrange(FAILURES_KEY, 0, 49)  # type: ignore[misc]
        failures = [JobFailure(**json.loads(item)) for item in raw]
        return JobStats(backend=self.backend, depth=depth, running=0, completed=0,
                        heartbeat_age_s=age, failures=failures)


async def record_failure(redis: ArqRedis, name: str, exc: BaseException) -> None:
    item = JobFailure(name, time.time(), repr(exc), traceback.format_exc(limit=5))
    await redis.lpush(FAILURES_KEY, json.dumps(dataclasses.asdict(item)))  # type: ignore[misc]
    await redis.ltrim(FAILURES_KEY, 0, 49)  # type: ignore[misc]


def _wrap(name: str, func: JobFunc, max_tries: int,
          timeout_s: float) -> Callable[..., Awaitable[Any]]:
    """Our own timeout and retry, so a timed-out or failed try is recorded like in-process."""

    async def run(ctx: JobContext, *args: Any) -> Any:
        try:
            async with asyncio.timeout(timeout_s):
                return await func(ctx, *args)
        except Exception as exc:
            attempt = int(ctx.get("job_try", 1))
            if attempt < max_tries:
                raise Retry(defer=timedelta(seconds=retry_delay_s(attempt))) from exc
            await record_failure(ctx["redis"], name, exc)
            raise

    run.__qualname__ = run.__name__ = name
    return run


def _cron_fields(interval_s: float) -> dict[str, Any]:
    """arq crons are wall-clock sets; turn an interval that divides an hour into one."""
    step = max(1, round(interval_s))
    if step < 60 and 60 % step == 0:
        return {"second": set(range(0, 60, step))}
    if step % 60 == 0 and 3600 % step == 0:
        return {"minute": set(range(0, 60, step // 60)), "second": 0}
    if step % 3600 == 0:
        return {"hour": set(range(0, 24, max(1, step // 3600))), "minute": 0, "second": 0}
    raise ValueError(f"cron interval {interval_s}s does not divide a minute, hour or day")


async def heartbeat_tick(ctx: JobContext) -> None:
    await ctx["redis"].set(HEARTBEAT_KEY, str(time.time()), ex=3600)


def functions(default_timeout_s: float, default_max_tries: int) -> list[Function]:
    out = []
    for spec in JOBS.values():
        tries = _tries(spec, default_max_tries)
        timeout = spec.timeout_s or default_timeout_s
        wrapped: Any = _wrap(spec.name, spec.func, tries, timeout)
        out.append(arq_func(wrapped, name=spec.name, timeout=timeout + ARQ_TIMEOUT_MARGIN_S,
                            max_tries=tries))
    return out


def cron_jobs(default_timeout_s: float, heartbeat_interval_s: float) -> list[CronJob]:
    specs: list[CronSpec] = [*CRONS.values(),
                             CronSpec("heartbeat_tick", heartbeat_tick, heartbeat_interval_s, 10)]
    out = []
    for s in specs:
        timeout = s.timeout_s or default_timeout_s
        wrapped: Any = _wrap(s.name, s.func, 1, timeout)
        out.append(arq_cron(wrapped, name=s.name, run_at_startup=s.name == "heartbeat_tick",
                            timeout=timeout + ARQ_TIMEOUT_MARGIN_S, unique=True,
                            **_cron_fields(s.interval_s)))
    return out


def _tries(spec: JobSpec, default: int) -> int:
    return spec.max_tries or default
