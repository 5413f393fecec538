"""Stream-worker supervisor (CONTRACT §7): `Supervisor`, the worker table and the workers."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.config import Settings
from rooms.live.hub import Hub
from rooms.logging import get_logger
from rooms.steward import read
from rooms.supervisor.core import Supervisor
from rooms.supervisor.spec import load_specs
from rooms.supervisor.workers import WORKERS

__all__ = ["Supervisor", "build_supervisor"]

log = get_logger("rooms.supervisor")


async def build_supervisor(settings: Settings, hub: Hub,
                           sessions: async_sessionmaker[AsyncSession]) -> Supervisor:
    """The app's supervisor: the worker table (or the seed's), starting in the steward's
    current quiet mode (`set_quiet` follows later changes)."""
    specs = load_specs(settings.orchestrator_tasks_path)
    quiet = False
    try:
        async with sessions() as session:
            quiet = (await read(session)).quieter_mode
    except Exception as exc:  # the database may come later; /healthz says so meanwhile
        log.warning("supervisor.quiet_unknown", error=type(exc).__name__)
    return Supervisor(settings=settings, hub=hub, specs=specs, workers=WORKERS, quiet=quiet)
