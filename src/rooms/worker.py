"""`rooms worker`: the arq worker, with the same resources the API builds in its lifespan."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Worker

from rooms.config import Settings
from rooms.instance import ensure_secrets
from rooms.jobs import arq_queue
from rooms.jobs.catalog import load_jobs
from rooms.resources import open_resources


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
    load_jobs()
    stack = AsyncExitStack()

    async def on_startup(ctx: dict[str, Any]) -> None:
        res = await stack.enter_async_context(open_resources(settings, role="worker"))
        # arq's own client stays ctx["redis"]; ours is in the resources
        ctx.update({k: v for k, v in res.job_context().items() if k != "redis"})

    async def on_shutdown(_: dict[str, Any]) -> None:
        await stack.aclose()

    shutdown: Any = on_shutdown
    return Worker(
        functions=arq_queue.functions(settings.job_timeout_s, settings.job_max_tries),
        cron_jobs=arq_queue.cron_jobs(settings.job_timeout_s, settings.heartbeat_interval_s),
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
        queue_name=arq_queue.QUEUE_NAME,
        on_startup=on_startup,
        on_shutdown=shutdown,
        poll_delay=settings.job_poll_delay_s,  # arq's 0.5 s default delays every job start
        burst=burst,
        handle_signals=not burst,
        max_jobs=4,
    )


async def run_worker(settings: Settings) -> None:
    worker = build_worker(ensure_secrets(settings))
    await worker.async_run()
