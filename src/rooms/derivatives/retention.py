"""Retention: no take outlives its consent (CONTRACT §5, REFERENCE §2.7).

- `expire_raw`: takes past `expires_at` become EXPIRED; raw audio past `raw_expires_at` is
  deleted; a FOSSIL that still has a live essence stays ACTIVE and plays it from then on
  (pool/next says `media_kind: "essence"`), any other take becomes EXPIRED.
- `prune_derivatives`: derivatives past their `expires_at` are deleted (blob, then row).
- both: an ACTIVE take with nothing left to play (no raw, no live essence) becomes EXPIRED.
- `expire_raw` also scrubs gone takes that still name audio (a played NOSAVE take, an hour
  after its raw TTL): a revoked or expired take keeps no `raw_uri` and no `raw_sha256`.

Every expiry goes through `recordings.removal.remove_takes`, the same path as a revocation
(delete blobs, then mark rows, then announce). A run that changed anything writes one
`retention.sweep` StewardAction with its counts; every run records when it ran, which node
status and /readyz report.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta

from rooms.derivatives import repository
from rooms.jobs import sweeps
from rooms.live import surface
from rooms.logging import get_logger
from rooms.models import ArtifactStatus, StewardAction, StewardActionName
from rooms.recordings.removal import delete_blobs, remove_takes
from rooms.resources import Resources
from rooms.uow import unit_of_work

log = get_logger("rooms.derivatives.retention")

BATCH = 200  # takes per removal (one transaction, one audit row)
LIMIT = 2000  # per run; the next run takes the rest
# a NOSAVE take's audio may be heard for a listening window after its raw TTL; leave it be
SCRUB_GRACE = timedelta(hours=1)
Counts = dict[str, int]


def _chunks(ids: Sequence[int], size: int = BATCH) -> list[list[int]]:
    return [list(ids[i:i + size]) for i in range(0, len(ids), size)]


async def _expire(res: Resources, ids: Sequence[int]) -> int:
    removed = 0
    for chunk in _chunks(ids):
        async with unit_of_work(res) as uow:
            done = await remove_takes(uow, chunk, status=ArtifactStatus.EXPIRED,
                                      change="expired",
                                      action=StewardActionName.RETENTION_EXPIRED,
                                      actor="retention",
                                      detail=f"{len(chunk)} take(s) past their retention")
        removed += len(done.artifact_ids)
    return removed


async def _expire_unplayable(res: Resources, now: datetime) -> int:
    async with res.sessions() as session:
        ids = await repository.unplayable(session, now, LIMIT)
    return await _expire(res, ids)


async def _essence_only(res: Resources, artifact_id: int, raw_key: str) -> bool:
    """Delete a FOSSIL's raw blob, then forget it; the take plays its essence."""
    await delete_blobs(res.blobs, [raw_key])
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        if not await repository.drop_raw(uow.session, artifact_id, raw_key):
            return False
        uow.after_commit(functools.partial(surface.pool_changed, uow.events, "essence",
                                           artifact_id))
    return True


async def _scrub(res: Resources, before: datetime) -> int:
    """Gone takes that still name audio (a played NOSAVE take: its blob is deleted when its
    listening window closes, its row keeps the key): delete the blob if it is still there,
    then forget the key and the fingerprint."""
    async with res.sessions() as session:
        found = await repository.gone_with_audio(session, before, LIMIT)
    scrubbed = 0
    for chunk in _chunks([i for i, _ in found]):
        await delete_blobs(res.blobs, [k for i, k in found if k and i in set(chunk)])
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            scrubbed += await repository.forget_audio(uow.session, chunk)
    return scrubbed


async def expire_raw(res: Resources, now: datetime) -> Counts:
    counts = {"expired": 0, "raw_deleted": 0, "scrubbed": 0}
    async with res.sessions() as session:
        due = await repository.past_expiry(session, now, LIMIT)
    counts["expired"] += await _expire(res, [i for i, _ in due])
    counts["raw_deleted"] += sum(1 for _, raw in due if raw)
    async with res.sessions() as session:
        raws = await repository.raw_past_ttl(session, now, LIMIT)
    gone = [i for i, _, essence in raws if not essence]
    counts["expired"] += await _expire(res, gone)
    counts["raw_deleted"] += len(gone)
    for artifact_id, raw_key, essence in raws:
        if essence and await _essence_only(res, artifact_id, raw_key):
            counts["raw_deleted"] += 1
    counts["expired"] += await _expire_unplayable(res, now)
    counts["scrubbed"] = await _scrub(res, now - SCRUB_GRACE)
    await finish(res, "expire_raw", counts)
    return counts


async def prune_derivatives(res: Resources, now: datetime) -> Counts:
    async with res.sessions() as session:
        due = await repository.past_ttl_derivatives(session, now, LIMIT)
    pruned = 0
    for chunk in _chunks([i for i, _ in due]):
        keys = [uri for i, uri in due if i in set(chunk) and uri]
        await delete_blobs(res.blobs, keys)
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            pruned += await repository.delete_rows(uow.session, chunk, now)
    counts = {"derivatives_pruned": pruned, "expired": await _expire_unplayable(res, now)}
    await finish(res, "prune_derivatives", counts)
    return counts


async def finish(res: Resources, sweep: str, counts: Counts) -> None:
    """Audit a run that changed anything (one `retention.sweep` row), and note that the
    sweep ran (in Redis when there is one, so the api processes see the worker's runs)."""
    if any(counts.values()):
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            uow.session.add(StewardAction(
                action=StewardActionName.RETENTION_SWEEP, actor="retention",
                detail=", ".join(f"{k} {v}" for k, v in counts.items()),
                payload={"sweep": sweep, **counts}))
        log.info("retention.sweep", sweep=sweep, **counts)
    await record_run(res, sweep)


async def record_run(res: Resources, sweep: str) -> None:
    await sweeps.record_run(res.extras, res.redis, sweep)
