"""The node status: one dict for GET /api/v1/node/status and the /ws/ops push.

No FastAPI here. Dependencies and the job runner are probed concurrently (2 s each); the
archive is read with four aggregate queries, so the answer stays fast at 100,000 takes.
A part that cannot be read is reported as such (null, plus a warning), never an exception.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from rooms import steward
from rooms.config import Settings
from rooms.health.checks import CHECK_TIMEOUT_S, dependency_checks
from rooms.jobs import sweeps
from rooms.kit.times import iso
from rooms.logging import get_logger
from rooms.models import ArtifactStatus, utcnow
from rooms.ops import devices, repository
from rooms.ops.warnings import ORDER, collect
from rooms.playback.classify import LANES, MOODS, Thresholds, mood_of
from rooms.resources import Resources

log = get_logger("rooms.ops.status")

QUERY_TIMEOUT_S = 5.0
MOSTLY = 0.3  # past this share of ACTIVE rows, one pass over the table beats the index
GB = 1024**3


@dataclass(slots=True)
class Archive:
    by_status: dict[str, int]
    lanes: dict[str, int]
    moods: dict[str, int]
    retention: dict[str, Any]
    operator_state: dict[str, Any]
    playable: int = field(init=False)

    def __post_init__(self) -> None:
        self.playable = sum(self.lanes.values())


async def read_archive(res: Resources, now: datetime) -> Archive:
    s = res.settings
    t = Thresholds.from_settings(s)
    async with asyncio.timeout(QUERY_TIMEOUT_S), res.sessions() as session:
        by_status = await repository.counts_by_status(session)
        active = by_status.get(ArtifactStatus.ACTIVE, 0)
        mix = await repository.playable_mix(
            session, now, t, mostly_active=active > MOSTLY * sum(by_status.values()),
            scan_beats_index=res.db.scan_beats_index)
        kept = await repository.retention(
            session, now, now + timedelta(hours=s.ops_retention_soon_hours))
        posture = await steward.read(session)
    lanes: dict[str, int] = dict.fromkeys(LANES, 0)
    moods: dict[str, int] = dict.fromkeys(MOODS, 0)
    for lane, density, aged, n in mix:
        lanes[lane] += n
        moods[mood_of(lane, density, aged=aged)] += n
    retention = {"soon_window_hours": s.ops_retention_soon_hours, **kept,
                 "next_raw_expiry_at": iso(kept["next_raw_expiry_at"]),
                 "next_fossil_expiry_at": iso(kept["next_fossil_expiry_at"])}
    state: dict[str, Any] = posture.switches()
    state.pop("mood_bias")
    return Archive({st: by_status.get(st, 0) for st in (*ArtifactStatus, *sorted(by_status))},
                   lanes, moods, retention, state)


def storage(settings: Settings) -> dict[str, Any]:
    """Disk headroom at OPS_STORAGE_PATH against the OPS_DISK_* thresholds."""
    path = settings.ops_storage_path
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return {"path": path, "state": "unknown", "error": type(exc).__name__}
    free_gb = usage.free / GB
    # As df counts: of the space a user can have (root's reserve is neither used nor free).
    usable = usage.used + usage.free
    free_percent = 100.0 * usage.free / usable if usable else 0.0
    if (free_gb < settings.ops_disk_critical_free_gb
            or free_percent < settings.ops_disk_critical_free_percent):
        state = "critical"
    elif (free_gb < settings.ops_disk_warning_free_gb
          or free_percent < settings.ops_disk_warning_free_percent):
        state = "warning"
    else:
        state = "ok"
    return {"path": path, "state": state, "total_gb": round(usage.total / GB, 2),
            "free_gb": round(free_gb, 2),
            "used_percent": round(100.0 - free_percent, 1) if usable else 0.0,
            "free_percent": round(free_percent, 1)}


async def jobs(res: Resources) -> dict[str, Any]:
    s = res.settings
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            stats = await res.jobs.stats()
    except Exception as exc:
        return {"ok": False, "backend": res.jobs.backend, "error": type(exc).__name__}
    recent = [f for f in stats.failures if f.ts >= time.time() - s.ops_task_failure_window_seconds]
    age = stats.heartbeat_age_s
    swept = await sweeps.last_runs(res.extras, res.redis)
    return {"ok": True, "backend": stats.backend, "depth": stats.depth, "running": stats.running,
            "heartbeat_age_s": None if age is None else round(age, 1),
            "stale": age is None or age > s.ops_worker_heartbeat_max_age_seconds,
            "recent_failures": len(recent),
            "last_failures": [{"job": f.job, "error": f.error[:200],
                               "at": iso(datetime.fromtimestamp(f.ts, UTC))}
                              for f in recent[:5]],
            # seconds since each sweep last ran (expire_raw, prune_derivatives, ...)
            "last_sweep_age_s": swept}


def live(res: Resources) -> dict[str, Any]:
    hub = res.live
    return {"node": hub.node, "total": hub.total, "local_total": hub.local_total,
            "topics": hub.counts(), "peers": hub.peers}


async def node_status(res: Resources, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything an operator needs at a glance; `ok` is false on a down dependency or any
    critical warning."""
    now = now or utcnow()
    checks, job_stats = await asyncio.gather(dependency_checks(res), jobs(res))
    components = {c.name: c.as_dict() for c in checks}
    archive: Archive | None = None
    archive_error = ""
    if components["database"]["ok"]:
        try:
            archive = await read_archive(res, now)
        except Exception as exc:  # reported, not raised: the rest of the page still helps
            archive_error = type(exc).__name__
            log.warning("ops.status.archive_failed", error=archive_error)
    disk = storage(res.settings)
    workers = res.streams.workers()
    warnings = collect(res.settings, components=components, archive=archive,
                       archive_error=archive_error, disk=disk, jobs=job_stats, workers=workers)
    warnings = sorted([*warnings, *await devices.warnings(res)], key=lambda w: ORDER[w["level"]])
    counts = archive.by_status if archive else None
    return {
        "ok": all(c["ok"] for c in components.values())
        and not any(w["level"] == "critical" for w in warnings),
        "now": iso(now),
        "components": components,
        "operator_state": archive.operator_state if archive else None,
        "artifacts": counts,
        "active": counts[ArtifactStatus.ACTIVE] if counts else None,
        "expired": counts[ArtifactStatus.EXPIRED] if counts else None,
        "revoked": counts[ArtifactStatus.REVOKED] if counts else None,
        "playable": archive.playable if archive else None,
        "lanes": archive.lanes if archive else None,
        "moods": archive.moods if archive else None,
        "retention": archive.retention if archive else None,
        "storage": disk,
        "jobs": job_stats,
        "supervisor": {"state": res.streams.state, "workers": workers},
        "live": live(res),
        "warnings": warnings,
    }
