"""GET /healthz, /readyz, /health and /metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from rooms.deps import ResourcesDep
from rooms.health.checks import dependency_checks
from rooms.jobs import sweeps
from rooms.kit.times import now_iso
from rooms.openapi import ErrorDetail

router = APIRouter(tags=["health"])

MAX_RECENT_FAILURES = 3


class HealthOut(BaseModel):
    """`checks` maps a part (database, blobs, redis; jobs and supervisor on /readyz) to at
    least `{"ok": bool}`; `error` is there only when something fails."""

    ok: bool
    checks: dict[str, dict[str, Any]]
    now: str
    error: ErrorDetail | None = None


class WorkersHealthOut(BaseModel):
    workers: dict[str, dict[str, Any]]
    error: ErrorDetail | None = None


def _unhealthy(model: type[BaseModel], what: str) -> dict[int | str, dict[str, Any]]:
    return {503: {"model": model, "description": what}}


def _error(failing: list[str]) -> dict[str, str]:
    return {"code": "dependency_unavailable",
            "message": f"unavailable: {', '.join(failing)}"}


@router.get("/healthz", response_model=HealthOut,
            responses=_unhealthy(HealthOut, "`dependency_unavailable`: a part does not answer"))
async def healthz(res: ResourcesDep) -> JSONResponse:
    """Database, blob store and Redis: 200 when all answer, 503 naming the ones that do not."""
    checks = await dependency_checks(res)
    failing = [c.name for c in checks if not c.ok]
    body: dict[str, Any] = {"ok": not failing, "checks": {c.name: c.as_dict() for c in checks},
                            "now": now_iso()}
    if failing:
        body["error"] = _error(failing)
    return JSONResponse(body, status_code=503 if failing else 200,
                        headers={"Cache-Control": "no-store"})


@router.get("/readyz", response_model=HealthOut,
            responses=_unhealthy(HealthOut, "`dependency_unavailable`: not ready"))
async def readyz(res: ResourcesDep) -> JSONResponse:
    """healthz plus the job runner's heartbeat, queue depth, recent failures, supervisor."""
    s = res.settings
    checks = {c.name: c.as_dict() for c in await dependency_checks(res)}
    failing = [name for name, c in checks.items() if not c["ok"]]
    try:
        stats = await res.jobs.stats()
    except Exception as exc:
        failing.append("jobs")
        checks["jobs"] = {"ok": False, "error": type(exc).__name__}
    else:
        window = time.time() - s.ops_task_failure_window_seconds
        recent = [f for f in stats.failures if f.ts >= window]
        stale = stats.heartbeat_age_s is None or (
            stats.heartbeat_age_s > s.ops_worker_heartbeat_max_age_seconds)
        too_deep = stats.depth >= s.ops_queue_depth_critical
        jobs_ok = not stale and not too_deep and len(recent) < MAX_RECENT_FAILURES
        res.metrics.jobs_depth.set(stats.depth)
        res.metrics.jobs_failures.set(len(recent))
        checks["jobs"] = {
            "ok": jobs_ok, "backend": stats.backend, "depth": stats.depth,
            "heartbeat_age_s": None if stats.heartbeat_age_s is None
            else round(stats.heartbeat_age_s, 1),
            "recent_failures": [{"job": f.job, "error": f.error, "ts": f.ts} for f in recent[:10]],
            "last_sweep_age_s": await sweeps.last_runs(res.extras, res.redis),
        }
        if not jobs_ok:
            failing.append("jobs")
    silent = res.streams.unhealthy()
    checks["supervisor"] = {"ok": not silent, "state": res.streams.state, "silent": silent}
    if silent:
        failing.append("supervisor")
    body: dict[str, Any] = {"ok": not failing, "checks": checks, "now": now_iso()}
    if failing:
        body["error"] = _error(failing)
    return JSONResponse(body, status_code=503 if failing else 200,
                        headers={"Cache-Control": "no-store"})


@router.get("/health", response_model=WorkersHealthOut,
            responses=_unhealthy(WorkersHealthOut, "`workers_silent`"))
async def health(res: ResourcesDep) -> JSONResponse:
    """The supervisor's workers; 503 while one that should run does not answer."""
    silent = res.streams.unhealthy()
    body: dict[str, Any] = {"workers": res.streams.workers()}
    if silent:
        body["error"] = {"code": "workers_silent",
                         "message": "should run but do not answer: " + ", ".join(silent)}
    return JSONResponse(body, status_code=503 if silent else 200,
                        headers={"Cache-Control": "no-store"})


@router.get("/metrics", include_in_schema=False)
async def metrics(res: ResourcesDep) -> Response:
    # the exposition module loads with the first scrape (README "Idle memory")
    from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

    res.metrics.live_connections.set(res.live.total)
    for topic, n in res.live.counts().items():
        res.metrics.live_subscribers.labels(topic).set(n)
    return Response(generate_latest(res.metrics.registry), media_type=CONTENT_TYPE_LATEST)
