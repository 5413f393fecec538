"""The stream workers the supervisor can run, by task name (CONTRACT §7).

A task in the table without an entry here is shown as `disabled` (not built yet).
"""

from __future__ import annotations

from rooms.supervisor.slot import WorkerFn
from rooms.supervisor.workers import analysis, noise, probe, topic1

WORKERS: dict[str, WorkerFn] = {
    "discovery_probe": probe.run,
    "topic1_worker": topic1.run,
    "analysis_phase": analysis.run,
    "noise_metadata": noise.run,
}
