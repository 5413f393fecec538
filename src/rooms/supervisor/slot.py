"""One worker's life under the supervisor: its run task, state, restarts and crashes.

States (CONTRACT §7): `running`; `stopped` (its conditions say it should not run);
`backoff` (crashed, waiting to restart); `crashloop` (more than `max_restarts` crashes in
`window_s`: parked until an operator restarts it); `disabled` (off in the table, or no
implementation in this version).

A run that fails because the process is out of file descriptors or memory (EMFILE, ENFILE,
ENOBUFS, ENOMEM anywhere in the exception's chain) is *starved*, not broken: it backs off
as a crash does, but does not count towards the flood guard, so a worker never parks in
`crashloop` because slow clients held the server's descriptors for a while.
"""

from __future__ import annotations

import asyncio
import errno
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from rooms.supervisor.gate import Gate
from rooms.supervisor.spec import TaskSpec

State = Literal["running", "stopped", "backoff", "crashloop", "disabled"]
WorkerFn = Callable[[Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Crash:
    worker: str
    at: float  # wall-clock seconds
    error: str
    traceback: str

    def as_dict(self) -> dict[str, Any]:
        return {"worker": self.worker, "at": self.at, "error": self.error,
                "traceback": self.traceback}


STARVED_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def starved_by(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is the process running out of fds or memory."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError) or (
                isinstance(current, OSError) and current.errno in STARVED_ERRNOS):
            return True
        current = current.__cause__ or current.__context__
    return False


class Silent(Exception):
    """A run that stopped sending heartbeats for longer than its health timeout."""


class Slot:
    def __init__(self, spec: TaskSpec, fn: WorkerFn | None) -> None:
        self.spec = spec
        self.fn = fn
        self.gate = Gate(spec)
        self.state: State = "disabled" if fn is None or not spec.enabled else "stopped"
        self.task: asyncio.Task[None] | None = None
        self.restarts = 0  # restarts after a crash or silence, ever
        self.failures_in_row = 0
        self.crash_times: deque[float] = deque()
        self.retry_at: float | None = None
        self.last_beat: float | None = None
        self.last_error: str | None = None if fn is not None else "not built in this version"
        self.stop_reason: str | None = None  # why the current run is being cancelled

    @property
    def runnable(self) -> bool:
        return self.fn is not None and self.spec.enabled

    def beat(self, now: float) -> None:
        self.last_beat = now

    def silent_for(self, now: float) -> float | None:
        if self.state != "running" or self.last_beat is None:
            return None
        return now - self.last_beat

    def failed(self, now: float, error: str) -> None:
        """A run crashed or went silent: back off, or park it past the flood guard."""
        policy = self.spec.restart
        self.last_error = error
        self.crash_times.append(now)
        while self.crash_times and now - self.crash_times[0] > policy.window_s:
            self.crash_times.popleft()
        self.failures_in_row += 1
        if len(self.crash_times) > policy.max_restarts:
            self.state, self.retry_at = "crashloop", None
        else:
            self.state, self.retry_at = "backoff", now + policy.delay(self.failures_in_row)

    def starved(self, now: float, error: str) -> None:
        """A run failed for want of fds or memory: back off (growing as crashes do, up to
        `backoff_max_s`), but never into `crashloop`: the cause is outside the worker."""
        self.last_error = error
        self.failures_in_row += 1
        self.state, self.retry_at = "backoff", now + self.spec.restart.delay(self.failures_in_row)

    def as_dict(self, now: float) -> dict[str, Any]:
        silent = None if self.last_beat is None else round(now - self.last_beat, 1)
        return {"state": self.state, "restarts": self.restarts,
                "last_heartbeat_s_ago": silent if self.state == "running" else None,
                "last_error": self.last_error}


def crash_of(name: str, exc: BaseException) -> Crash:
    text = "".join(traceback.format_exception(exc))
    return Crash(worker=name, at=time.time(), error=f"{type(exc).__name__}: {exc}",
                 traceback=text[-8000:])
