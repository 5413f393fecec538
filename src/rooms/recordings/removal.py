"""Taking takes out of the world: delete the blobs, then mark the rows, then announce.

One function for every way a take goes — a participant's revocation, a steward's removal,
retention's expiry — called the same way from a request or a job (`rooms.uow`):

1. read what is stored for the takes (no write slot, and the read snapshot is closed before
   storage is touched, so a slow store never holds up the database's one writer);
2. append the takes to the revocation ledger (`recordings/ledger.py`, so a restore of an
   older backup never brings them back), then delete every blob (raw and derivatives); if
   either fails: 503 `storage_unavailable` and nothing changed in the database, so an
   answer always means the audio is gone;
3. in the write slot: mark the rows (status, no `raw_uri`, no `raw_sha256`), delete their
   derivative rows, and write one StewardAction; a derivative that a render added after
   step 1 is deleted once this commits (the orphan sweep catches anything missed);
4. after the commit: one `surface` pool event per take.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from rooms.errors import Unavailable
from rooms.live import surface
from rooms.logging import get_logger
from rooms.models import Artifact, ArtifactStatus, Derivative, StewardAction, StewardActionName
from rooms.recordings import ledger
from rooms.storage import BlobStore
from rooms.uow import UnitOfWork

log = get_logger("rooms.recordings.removal")

GONE_STATUSES = (ArtifactStatus.REVOKED, ArtifactStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class Removed:
    artifact_ids: list[int]
    derivatives_deleted: int


async def delete_blobs(blobs: BlobStore, keys: Sequence[str]) -> None:
    """Delete every key or raise Unavailable (503 `storage_unavailable`)."""
    results = await asyncio.gather(*(blobs.delete(k) for k in keys), return_exceptions=True)
    failed = [k for k, r in zip(keys, results, strict=True) if isinstance(r, BaseException)]
    if failed:
        log.warning("recordings.delete_failed", keys=len(failed))
        raise Unavailable("storage is unreachable; nothing was changed, try again",
                          code="storage_unavailable")


async def remove_takes(uow: UnitOfWork, artifact_ids: Sequence[int], *,
                       status: ArtifactStatus, change: surface.PoolChange,
                       action: StewardActionName, actor: str, detail: str) -> Removed:
    """Remove the takes `artifact_ids` that are not gone yet, as the module says.

    `status` is what they become (REVOKED or EXPIRED); `action`/`actor`/`detail` name the
    audit row. Returns the ids this call removed (a concurrent caller's are not counted)
    and how many derivatives went. Raises Unavailable when storage fails.
    """
    session = uow.session
    ids = list(dict.fromkeys(artifact_ids))
    live = (await session.execute(
        select(Artifact.id, Artifact.raw_uri, Artifact.consent_mode, Artifact.created_at).where(
            Artifact.id.in_(ids), Artifact.status.not_in(GONE_STATUSES)))).all() if ids else []
    if not live:
        return Removed([], 0)
    targets = [int(i) for i, _, _, _ in live]
    derived = (await session.execute(select(Derivative.uri).where(
        Derivative.artifact_id.in_(targets)))).scalars().all()
    await uow.end_read()
    # everything under a FOSSIL's derivative prefix, rows or not (a render mid-way)
    try:
        listed = await asyncio.gather(*(uow.blobs.list(f"derivatives/{i}/")
                                        for i, _, mode, _ in live if mode == "FOSSIL"))
    except Exception as exc:
        log.warning("recordings.list_failed", error=type(exc).__name__)
        raise Unavailable("storage is unreachable; nothing was changed, try again",
                          code="storage_unavailable") from exc
    keys = list(dict.fromkeys(k for k in [*(uri for _, uri, _, _ in live), *derived,
                                          *(k for found in listed for k in found)] if k))
    try:
        await ledger.record(uow.resources, change, [(int(i), c) for i, _, _, c in live])
    except Exception as exc:
        log.warning("recordings.ledger_failed", error=type(exc).__name__)
        raise Unavailable("the revocation ledger could not be written; nothing was changed, "
                          "try again", code="storage_unavailable") from exc
    await delete_blobs(uow.blobs, keys)
    await uow.begin_write()
    marked = (await session.execute(
        update(Artifact).where(Artifact.id.in_(targets),
                               Artifact.status.not_in(GONE_STATUSES))
        .values(status=status, raw_uri="", raw_sha256="")
        .returning(Artifact.id))).scalars().all()
    removed = sorted(int(i) for i in marked)
    late = (await session.execute(delete(Derivative).where(
        Derivative.artifact_id.in_(targets)).returning(Derivative.uri))).scalars().all()
    leftovers = [k for k in late if k and k not in keys]
    if leftovers:  # rendered after the read: its blob goes once the rows are gone
        uow.after_commit(functools.partial(delete_blobs, uow.blobs, leftovers))
    if removed:
        session.add(StewardAction(action=action, actor=actor, detail=detail,
                                  payload={"artifact_ids": removed,
                                           "derivatives_deleted": len(late)}))
    for artifact_id in removed:
        uow.after_commit(functools.partial(surface.pool_changed, uow.events, change,
                                           artifact_id))
    log.info("recordings.removed", action=action, artifacts=len(removed),
             derivatives=len(late))
    return Removed(removed, len(late) if removed else 0)
