"""`prune_audit`: access events and steward actions older than their retention go.

`ACCESS_EVENT_RETENTION_DAYS` (90) and `STEWARD_ACTION_RETENTION_DAYS` (365); 0 keeps that
table forever. Runs hourly in either job runner, deleting in batches of `BATCH` rows, each
batch its own short transaction in the write slot (an embedded kiosk's uploads wait for one
batch at most, never for the whole prune). A run that deleted anything writes one
`audit.pruned` action with its counts (that row is new, so it is kept). The close-of-day
archive (`rooms archive-day`) is how a venue keeps a day's audit trail for longer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from rooms.jobs import sweeps
from rooms.jobs.registry import JobContext, cron
from rooms.logging import get_logger
from rooms.models import AccessEvent, StewardAction, StewardActionName, utcnow
from rooms.resources import Resources
from rooms.uow import unit_of_work

log = get_logger("rooms.archive.prune")
BATCH = 5000


async def _prune(res: Resources, model: Any, stamp: Any, before: datetime) -> int:
    """Delete rows of `model` whose `stamp` is before `before`, BATCH at a time."""
    total = 0
    while True:
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            ids = list((await uow.session.execute(
                select(model.id).where(stamp < before).order_by(model.id).limit(BATCH)
            )).scalars())
            if ids:
                await uow.session.execute(delete(model).where(model.id.in_(ids)))
        total += len(ids)
        if len(ids) < BATCH:
            return total


async def prune_audit_rows(res: Resources, now: datetime) -> dict[str, int]:
    """Prune both tables as the settings say; returns the counts deleted."""
    s = res.settings
    counts = {"access_events": 0, "steward_actions": 0}
    if s.access_event_retention_days:
        counts["access_events"] = await _prune(
            res, AccessEvent, AccessEvent.ts,
            now - timedelta(days=s.access_event_retention_days))
    if s.steward_action_retention_days:
        counts["steward_actions"] = await _prune(
            res, StewardAction, StewardAction.created_at,
            now - timedelta(days=s.steward_action_retention_days))
    if any(counts.values()):
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            uow.session.add(StewardAction(
                created_at=now, action=StewardActionName.AUDIT_PRUNED, actor="retention",
                detail=", ".join(f"{k} {v}" for k, v in counts.items()), payload=counts))
        log.info("audit.pruned", **counts)
    await sweeps.record_run(res.extras, res.redis, "prune_audit")
    return counts


@cron(interval_s=3600, timeout_s=600)
async def prune_audit(ctx: JobContext, now_ts: float | None = None) -> dict[str, int]:
    """Access events and steward actions past their retention go (see the module)."""
    now = datetime.fromtimestamp(now_ts, UTC) if now_ts is not None else utcnow()
    return await prune_audit_rows(ctx["resources"], now)
