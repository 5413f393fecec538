"""Dependency checks shared by /healthz, /readyz and the ops status."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from rooms.db import ping
from rooms.resources import Resources

CHECK_TIMEOUT_S = 2.0


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    latency_ms: float
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "latency_ms": round(self.latency_ms, 2)}
        if self.error:
            out["error"] = self.error
        return out


async def _timed(name: str, probe: Any) -> Check:
    start = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await probe
    except TimeoutError:
        return Check(name, False, (time.perf_counter() - start) * 1000,
                     f"no answer within {CHECK_TIMEOUT_S:g}s")
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return Check(name, False, (time.perf_counter() - start) * 1000, reason)
    return Check(name, True, (time.perf_counter() - start) * 1000)


async def dependency_checks(res: Resources) -> list[Check]:
    """Probe the database, the blob store and Redis (when configured) concurrently."""
    probes = [_timed("database", ping(res.engine)), _timed("storage", res.blobs.check())]
    if res.redis is not None:
        probes.append(_timed("redis", res.redis.ping()))
    checks = list(await asyncio.gather(*probes))
    for check in checks:
        res.metrics.dependency_up.labels(check.name).set(1 if check.ok else 0)
    return checks
