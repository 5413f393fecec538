"""When each periodic sweep last ran: written by the sweeps, read by /readyz and node status.

Kept in the process (`extras["sweeps"]`) and, when there is one, in Redis, so the api
processes see the runs of `rooms worker`.
"""

from __future__ import annotations

import time
from typing import Any

from rooms.logging import get_logger

log = get_logger("rooms.jobs.sweeps")
LAST_SWEEP_KEY = "rooms:sweeps:last"


async def record_run(extras: dict[str, Any], redis: Any, sweep: str) -> None:
    ts = time.time()
    extras.setdefault("sweeps", {})[sweep] = ts
    if redis is not None:
        try:
            await redis.hset(LAST_SWEEP_KEY, sweep, str(ts))
        except Exception as exc:  # the status shows a stale sweep; nothing else depends on it
            log.warning("sweeps.record_failed", error=type(exc).__name__)


async def last_runs(extras: dict[str, Any], redis: Any) -> dict[str, float]:
    """{sweep name: seconds since its last run}."""
    runs: dict[str, float] = dict(extras.get("sweeps", {}))
    if redis is not None:
        try:
            stored = await redis.hgetall(LAST_SWEEP_KEY)
        except Exception:
            stored = {}
        for name, ts in stored.items():
            key = name.decode() if isinstance(name, bytes) else str(name)
            runs[key] = max(runs.get(key, 0.0), float(ts))
    now = time.time()
    return {name: round(now - ts, 1) for name, ts in sorted(runs.items())}
