"""Declaring jobs: plain `async def job(ctx, ...)` functions, listed by name.

The same declaration drives both runners (in-process and arq), so a job has one timeout and
one retry budget wherever it runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

JobContext = dict[str, Any]
JobFunc = Callable[..., Awaitable[Any]]
F = TypeVar("F", bound=JobFunc)


@dataclass(frozen=True, slots=True)
class JobSpec:
    name: str
    func: JobFunc
    timeout_s: float | None
    max_tries: int | None


@dataclass(frozen=True, slots=True)
class CronSpec:
    name: str
    func: JobFunc
    interval_s: float
    timeout_s: float | None


JOBS: dict[str, JobSpec] = {}
CRONS: dict[str, CronSpec] = {}


def job(*, timeout_s: float | None = None, max_tries: int | None = None) -> Callable[[F], F]:
    """Register `func` as an enqueueable job under its own name."""

    def register(func: F) -> F:
        JOBS[func.__name__] = JobSpec(func.__name__, func, timeout_s, max_tries)
        return func

    return register


def cron(interval_s: float, *, timeout_s: float | None = None) -> Callable[[F], F]:
    """Register `func` to run every `interval_s` seconds (first run one interval after start)."""

    def register(func: F) -> F:
        CRONS[func.__name__] = CronSpec(func.__name__, func, interval_s, timeout_s)
        return func

    return register


def retry_delay_s(attempt: int) -> float:
    """Backoff before try `attempt + 1`: 0.5 s, 1 s, 2 s, … capped at 30 s."""
    return float(min(30.0, 0.5 * 2 ** (attempt - 1)))
