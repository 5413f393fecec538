"""Derivative and retention jobs: the same functions in the embedded runner and on arq.

The sweeps take `now_ts` (seconds since the epoch) so tests can move the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rooms.derivatives import repository, retention, service
from rooms.jobs.registry import JobContext, cron, job
from rooms.logging import get_logger
from rooms.models import utcnow
from rooms.resources import Resources

log = get_logger("rooms.derivatives.tasks")
RENDER_SWEEP_LIMIT = 200
LOUDNESS_SWEEP_LIMIT = 200


def _now(now_ts: float | None) -> datetime:
    return datetime.fromtimestamp(now_ts, UTC) if now_ts is not None else utcnow()


@job(timeout_s=300, max_tries=3)
async def render_derivatives(ctx: JobContext, artifact_id: int) -> str:
    """Render a FOSSIL take's spectrogram and essence (see derivatives.service)."""
    res: Resources = ctx["resources"]
    return str(await service.render_take(res, artifact_id))


@cron(interval_s=300, timeout_s=120)
async def sweep_renders(ctx: JobContext, now_ts: float | None = None) -> int:
    """Level-triggered: queue a render for every FOSSIL take still missing one, so a lost
    enqueue or a killed process only delays it. The job id keeps one render per take."""
    res: Resources = ctx["resources"]
    async with res.sessions() as session:
        ids = await repository.lacking_renders(session, _now(now_ts), RENDER_SWEEP_LIMIT)
    queued = 0
    for artifact_id in ids:
        if await res.jobs.enqueue(service.RENDER_JOB, artifact_id,
                                  job_id=service.render_job_id(artifact_id)):
            queued += 1
    await retention.record_run(res, "sweep_renders")
    if queued:
        log.info("derivatives.sweep.queued", count=queued)
    return queued


@job(timeout_s=300, max_tries=3)
async def measure_loudness(ctx: JobContext, artifact_id: int) -> dict[str, float]:
    """Measure and store a take's integrated loudness (see derivatives.service)."""
    return await service.measure_take(ctx["resources"], artifact_id)


@cron(interval_s=120, timeout_s=120)
async def sweep_loudness(ctx: JobContext) -> int:
    """Level-triggered: queue a measurement for every live take with raw audio still
    unmeasured, newest first (a lost enqueue, and the archive recorded before loudness was
    measured). The job id keeps one measurement per take."""
    res: Resources = ctx["resources"]
    async with res.sessions() as session:
        ids = await repository.lacking_loudness(session, LOUDNESS_SWEEP_LIMIT)
    queued = 0
    for artifact_id in ids:
        if await res.jobs.enqueue(service.MEASURE_JOB, artifact_id,
                                  job_id=service.measure_job_id(artifact_id)):
            queued += 1
    if queued:
        log.info("derivatives.loudness.sweep.queued", count=queued)
    return queued


@cron(interval_s=600, timeout_s=600)
async def expire_raw(ctx: JobContext, now_ts: float | None = None) -> dict[str, int]:
    """Raw audio past its TTL goes; takes past their consent become EXPIRED."""
    return await retention.expire_raw(ctx["resources"], _now(now_ts))


@cron(interval_s=3600, timeout_s=600)
async def prune_derivatives(ctx: JobContext, now_ts: float | None = None) -> dict[str, int]:
    """Derivatives past their TTL go; takes left with nothing to play become EXPIRED."""
    return await retention.prune_derivatives(ctx["resources"], _now(now_ts))
