"""One worker's life under the supervisor: its run task, state, restarts and crashes.

States (CONTRACT §7): `running`; `stopped` (its conditions say it should not run);
`backoff` (crashed, waiting to restart); `crashloop` (more than `max_restarts` crashes in
`window_s`: parked until an operator restarts it); `disabled` (off in the table, or no
implementation in this version).
"""

from __future__ import annotations

import asyncio
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

    def as_dict(self, now: float) -> dict[str, Any]:
        silent = None if self.last_beat is None else round(now - self.last_beat, 1)
        return {"state": self.state, "restarts": self.restarts,
                "last_heartbeat_s_ago": silent if self.state == "running" else None,
                "last_error": self.last_error}


def crash_of(name: str, exc: BaseException) -> Crash:
    text = "".join(traceback.format_exception(exc))
    return Crash(worker=name, at=time.time(), error=f"{type(exc).__name__}: {exc}",
                 traceback=text[-8000:])
