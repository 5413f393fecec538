"""What /readyz and /ops/ learn about the job runner."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class JobFailure:
    job: str
    ts: float
    error: str
    traceback: str = ""


@dataclass(slots=True)
class JobStats:
    backend: str
    depth: int
    running: int
    completed: int
    heartbeat_age_s: float | None
    failures: list[JobFailure] = field(default_factory=list)
