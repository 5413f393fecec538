"""The node status warnings: `{"code", "message", "level"}`, the most severe first.

Levels: `critical` (something is down or about to be: `ok` turns false), `warning` (the
installation still works but needs a look), `info` (a deliberate state worth seeing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from rooms.config import Settings

if TYPE_CHECKING:
    from rooms.ops.status import Archive

Level = Literal["critical", "warning", "info"]
ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


def _w(code: str, message: str, level: Level) -> dict[str, str]:
    return {"code": code, "message": message, "level": level}


def _pool(s: Settings, archive: Archive) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    playable = archive.playable
    if playable == 0:
        out.append(_w("empty_pool", "nothing is playable: the room is silent", "warning"))
    elif playable < s.ops_pool_low_count:
        out.append(_w("pool_low", f"only {playable} playable recording(s) "
                                  f"(OPS_POOL_LOW_COUNT {s.ops_pool_low_count})", "warning"))
    # Judged only once the pool is not already low: with three takes, 3-of-3 fresh is no news.
    if playable and playable >= s.ops_pool_low_count:
        lane, n = max(archive.lanes.items(), key=lambda item: item[1])
        if n / playable > s.ops_pool_imbalance_ratio:
            out.append(_w("lane_imbalance", f"{n} of {playable} playable recordings are "
                                            f"{lane} ({100 * n / playable:.0f}%)", "info"))
    state = archive.operator_state
    if state["intake_paused"]:
        out.append(_w("intake_paused", "the kiosk is not taking recordings", "info"))
    if state["playback_paused"]:
        out.append(_w("playback_paused", "the room is not playing", "info"))
    if state["maintenance_mode"]:
        out.append(_w("maintenance_mode", "maintenance mode is on", "info"))
    return out


def _disk(disk: dict[str, Any]) -> list[dict[str, str]]:
    state = disk["state"]
    if state == "unknown":
        return [_w("disk_unavailable", f"cannot read disk usage at {disk['path']}", "warning")]
    if state in ("warning", "critical"):
        return [_w(f"disk_{state}", f"{disk['free_gb']} GB ({disk['free_percent']}%) free at "
                                    f"{disk['path']}", state)]
    return []


def _jobs(s: Settings, jobs: dict[str, Any]) -> list[dict[str, str]]:
    if not jobs["ok"]:
        return [_w("jobs_unavailable", f"the job runner did not answer ({jobs['error']})",
                   "warning")]
    out: list[dict[str, str]] = []
    depth = jobs["depth"]
    if depth >= s.ops_queue_depth_critical:
        out.append(_w("queue_depth_critical", f"{depth} jobs waiting", "critical"))
    elif depth >= s.ops_queue_depth_warning:
        out.append(_w("queue_depth_warning", f"{depth} jobs waiting", "warning"))
    if jobs["stale"]:
        age = jobs["heartbeat_age_s"]
        out.append(_w("jobs_stale", "no job worker heartbeat" if age is None
                      else f"last job worker heartbeat {age:.0f} s ago", "warning"))
    if jobs["recent_failures"]:
        out.append(_w("job_failures", f"{jobs['recent_failures']} job(s) failed in the last "
                                      f"{s.ops_task_failure_window_seconds} s", "warning"))
    return out


def collect(s: Settings, *, components: dict[str, dict[str, Any]], archive: Archive | None,
            archive_error: str, disk: dict[str, Any], jobs: dict[str, Any],
            workers: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    out = [_w("dependency_down", f"{name} is not answering: {check.get('error', '')}",
              "critical") for name, check in components.items() if not check["ok"]]
    if archive_error:
        out.append(_w("archive_unavailable", f"the archive could not be read ({archive_error})",
                      "critical"))
    if archive is not None:
        out += _pool(s, archive)
    out += _disk(disk)
    out += _jobs(s, jobs)
    out += [_w("worker_crashloop", f"stream worker {name} keeps crashing", "warning")
            for name, worker in workers.items() if worker.get("state") == "crashloop"]
    return sorted(out, key=lambda w: ORDER[w["level"]])
