"""Sweeps that keep the blob store honest: no blob without a row that may still serve it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from rooms.jobs.context import JobDeps
from rooms.jobs.registry import JobContext, cron
from rooms.logging import get_logger
from rooms.models import Artifact, ArtifactStatus, Derivative, utcnow
from rooms.recordings import nosave, repository
from rooms.resources import Resources
from rooms.storage import SPOOL_GRACE

log = get_logger("rooms.recordings.sweep")
T = TypeVar("T")

# An ingest writes its blob a moment before its row commits; never judge a blob that young.
ORPHAN_GRACE = timedelta(minutes=15)
SERVABLE = (ArtifactStatus.ACTIVE, ArtifactStatus.EPHEMERAL)
_DERIVED_ID = re.compile(r"derivatives/(\d+)/")


def _now(now_ts: float | None) -> datetime:
    return datetime.fromtimestamp(now_ts, UTC) if now_ts is not None else utcnow()


def recent_prefixes(now: datetime, days: int) -> list[str]:
    """The day folders (`raw/YYYY/MM/DD/`, `ephemeral/...`) of the last `days` days and
    today: where a blob whose row never arrived can be (see `service.new_blob_key`)."""
    dates = sorted({(now - timedelta(days=d)).strftime("%Y/%m/%d") for d in range(days + 1)})
    return [f"{kind}/{day}/" for kind in ("raw", "ephemeral") for day in dates]


@cron(interval_s=600, timeout_s=600)
async def sweep_orphan_blobs(ctx: JobContext, now_ts: float | None = None,
                             full: bool = False) -> int:
    """Delete take blobs (older than the grace period) that no servable row points at.

    Lists only the recent day folders (ORPHAN_SWEEP_DAYS), never the whole bucket: an
    orphan is a blob whose ingest died between the write and the commit, so it is as new as
    that ingest. `full=True` (a one-off, e.g. after a restore) lists every raw, ephemeral
    and derivative blob, older key layouts included. Derivative blobs need no routine
    listing: their keys are fixed per take, a re-render overwrites them and a take's
    removal deletes its whole `derivatives/<id>/` prefix.
    """
    deps = JobDeps.of(ctx)
    now = _now(now_ts)
    cutoff = now - ORPHAN_GRACE
    prefixes = (["raw/", "ephemeral/", "derivatives/"] if full
                else recent_prefixes(now, deps.settings.orphan_sweep_days))
    entries = [e for prefix in prefixes
               for e in await deps.blobs.entries(prefix) if e.modified < cutoff]
    takes = [e.key for e in entries if not e.key.startswith("derivatives/")]
    derived_ids = {int(m.group(1)) for e in entries if (m := _DERIVED_ID.match(e.key))}
    keep: set[str] = set()
    async with deps.sessions() as session:
        for chunk in _chunks(takes, 500):
            keep.update((await session.execute(select(Artifact.raw_uri).where(
                Artifact.raw_uri.in_(chunk), Artifact.status.in_(SERVABLE)))).scalars())
        for ids in _chunks(sorted(derived_ids), 500):
            keep.update((await session.execute(
                select(Derivative.uri).join(Artifact, Artifact.id == Derivative.artifact_id)
                .where(Derivative.artifact_id.in_(ids), Artifact.status.in_(SERVABLE))
            )).scalars())
    deleted = 0
    for entry in entries:
        if entry.key not in keep:
            await deps.blobs.delete(entry.key)
            deleted += 1
    if deleted:
        log.info("recordings.sweep.deleted_orphans", count=deleted)
    return deleted


@cron(interval_s=15, timeout_s=120)
async def expire_ephemeral(ctx: JobContext, now_ts: float | None = None) -> int:
    """Delete every NOSAVE blob whose time is up: unplayed past its five minutes, or played
    and its listening window closed. Level-triggered: what a restart interrupted is found
    again on the next run. Returns how many blobs it deleted."""
    res: Resources = ctx["resources"]
    now = _now(now_ts)
    async with res.sessions() as session:
        due = await repository.nosave_blobs_due(session, now)
    deleted = 0
    for artifact_id in due:  # one at a time: a storage failure keeps only that one
        deleted += await nosave.dispose(res, artifact_id, due_by=now)
    return deleted


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@cron(interval_s=600, timeout_s=120)
async def sweep_stale_spools(ctx: JobContext, now_ts: float | None = None) -> int:
    """Delete upload spools nobody wrote to for SPOOL_GRACE (a crash or kill -9 mid-upload).

    The same sweep runs when a process opens its blob store (start-up).
    """
    deps = JobDeps.of(ctx)
    removed = await deps.blobs.sweep_staging(_now(now_ts) - SPOOL_GRACE)
    if removed:
        log.info("recordings.sweep.stale_spools", count=removed)
    return removed
