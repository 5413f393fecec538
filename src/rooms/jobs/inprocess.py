"""The embedded job runner: a bounded queue drained by a few tasks in this process."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import deque
from typing import Any

from rooms.errors import Unavailable
from rooms.jobs.registry import CRONS, JOBS, CronSpec, JobContext, retry_delay_s
from rooms.jobs.stats import JobFailure, JobStats
from rooms.logging import get_logger

log = get_logger("rooms.jobs")


class InProcessQueue:
    """Same job functions, retry budget and timeouts as arq, without Redis."""

    backend = "inprocess"

    def __init__(self, ctx: JobContext, *, maxsize: int, concurrency: int, default_timeout_s: float,
                 default_max_tries: int, run_crons: bool = True) -> None:
        self._ctx = ctx
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...], str | None]] = asyncio.Queue(maxsize)
        self._pending_ids: set[str] = set()
        self._concurrency = concurrency
        self._timeout = default_timeout_s
        self._max_tries = default_max_tries
        self._run_crons = run_crons
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._failures: deque[JobFailure] = deque(maxlen=50)
        self._completed = 0
        self._heartbeat = time.time()
        self._running = 0

    async def __aenter__(self) -> InProcessQueue:
        self._tg = asyncio.TaskGroup()
        await self._tg.__aenter__()
        for i in range(self._concurrency):
            self._tasks.append(self._tg.create_task(self._drain(), name=f"jobs-{i}"))
        if self._run_crons:
            for spec in CRONS.values():
                self._tasks.append(self._tg.create_task(self._cron(spec), name=f"cron-{spec.name}"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        assert self._tg is not None
        await self._tg.__aexit__(None, None, None)

    async def enqueue(self, name: str, *args: Any, job_id: str | None = None) -> bool:
        if name not in JOBS:
            raise KeyError(f"unknown job {name!r}")
        if job_id is not None and job_id in self._pending_ids:
            return False
        try:
            self._queue.put_nowait((name, args, job_id))
        except asyncio.QueueFull:
            raise Unavailable("the job queue is full; try again shortly",
                              code="job_queue_full") from None
        if job_id is not None:
            self._pending_ids.add(job_id)
        return True

    async def join(self) -> None:
        """Wait until every queued job has finished (tests and shutdown)."""
        await self._queue.join()

    async def stats(self) -> JobStats:
        return JobStats(backend=self.backend, depth=self._queue.qsize(),
                        running=self._running, completed=self._completed,
                        heartbeat_age_s=time.time() - self._heartbeat,
                        failures=list(self._failures))

    async def _drain(self) -> None:
        while True:
            try:
                name, args, job_id = await asyncio.wait_for(self._queue.get(), timeout=5)
            except TimeoutError:
                self._heartbeat = time.time()
                continue
            self._heartbeat = time.time()
            self._running += 1
            try:
                await self._run(name, args)
            finally:
                self._running -= 1
                if job_id is not None:
                    self._pending_ids.discard(job_id)
                self._queue.task_done()

    async def _run(self, name: str, args: tuple[Any, ...]) -> None:
        spec = JOBS[name]
        tries = spec.max_tries or self._max_tries
        timeout = spec.timeout_s or self._timeout
        for attempt in range(1, tries + 1):
            try:
                async with asyncio.timeout(timeout):
                    await spec.func({**self._ctx, "job_try": attempt}, *args)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("jobs.failed", job=name, attempt=attempt, tries=tries,
                            error=type(exc).__name__)
                if attempt == tries:
                    self._failures.append(JobFailure(name, time.time(), repr(exc),
                                                     traceback.format_exc(limit=5)))
                    return
                await asyncio.sleep(retry_delay_s(attempt))
            else:
                self._completed += 1
                return

    async def _cron(self, spec: CronSpec) -> None:
        while True:
            await asyncio.sleep(spec.interval_s)
            try:
                async with asyncio.timeout(spec.timeout_s or self._timeout):
                    await spec.func({**self._ctx, "job_try": 1})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("jobs.cron_failed", job=spec.name, error=type(exc).__name__)
                self._failures.append(JobFailure(spec.name, time.time(), repr(exc),
                                                 traceback.format_exc(limit=5)))
