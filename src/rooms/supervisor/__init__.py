"""Stream-worker supervisor (CONTRACT §7): `Supervisor`, the worker table and the workers."""

from __future__ import annotations

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.supervisor.core import Supervisor
from rooms.supervisor.spec import load_specs
from rooms.supervisor.workers import OWN_STREAMS, TOPICS, WORKERS, tempo_range_s

__all__ = ["Supervisor", "build_supervisor"]

def build_supervisor(settings: Settings, hub: Hub, *, quiet: bool) -> Supervisor:
    """The app's supervisor: the worker table (or the seed's), starting in the steward's
    quiet mode `quiet` (`set_quiet` follows later changes)."""
    specs = load_specs(settings.orchestrator_tasks_path)
    return Supervisor(settings=settings, hub=hub, specs=specs, workers=WORKERS, quiet=quiet,
                      topics=TOPICS, own_streams=OWN_STREAMS, tempo=tempo_range_s)
