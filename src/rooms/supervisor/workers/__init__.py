"""The stream workers the supervisor can run, by task name (CONTRACT §7).

A task in the table without an entry here is shown as `disabled` (not built yet). `TOPICS`
is each worker's own topic: the one its ticks go out on when it is a seeking stream
(`commons: true` in the table; noise_metadata always seeks).
"""

from __future__ import annotations

from collections.abc import Callable

from rooms.config import Settings
from rooms.supervisor.slot import WorkerFn
from rooms.supervisor.workers import analysis, noise, probe, stage, topic1

WORKERS: dict[str, WorkerFn] = {
    "discovery_probe": probe.run,
    "topic1_worker": topic1.run,
    "analysis_phase": analysis.run,
    "noise_metadata": noise.run,
    "all_in_stage": stage.run,
}

TOPICS: dict[str, str] = {
    "discovery_probe": probe.TOPIC,
    "topic1_worker": topic1.TOPIC,
    "analysis_phase": analysis.TOPIC,
    "noise_metadata": noise.TOPIC,
    "all_in_stage": stage.TOPIC,
}

# Workers that drive their own seeking stream (the rest get one from the supervisor).
OWN_STREAMS = frozenset({"noise_metadata"})


def tempo_range_s(name: str, s: Settings) -> tuple[float, float]:
    """The gap between a worker's ticks, seconds (a beacon's `tempo_range_s`)."""
    tempos: dict[str, Callable[[], tuple[float, float]]] = {
        "discovery_probe": lambda: (s.probe_min_interval, s.probe_max_interval),
        "topic1_worker": lambda: topic1.CREATE_GAP_S,
        "analysis_phase": lambda: (s.analysis_summary_interval,) * 2,
        "noise_metadata": lambda: (s.noise_min_interval, s.noise_max_interval),
        "all_in_stage": lambda: (s.stage_interval_s,) * 2,
    }
    return tempos[name]() if name in tempos else (0.0, 0.0)
