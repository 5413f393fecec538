"""Jobs: declare with `@job` / `@cron`, enqueue through a JobQueue after the commit."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol

from rooms.jobs.registry import CRONS, JOBS, JobContext, cron, job
from rooms.jobs.stats import JobFailure, JobStats

__all__ = ["CRONS", "JOBS", "JobContext", "JobFailure", "JobQueue", "JobStats", "cron", "job"]


class JobQueue(Protocol):
    backend: str

    async def enqueue(self, name: str, *args: Any, job_id: str | None = None) -> bool:
        """Queue `name(*args)`; False when a job with this id is already queued."""
        ...

    async def stats(self) -> JobStats: ...

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None: ...
