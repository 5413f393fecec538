"""Rendering a FOSSIL take's derivatives, race-free against revocation and retention.

`render_take` (the `render_derivatives` job, in-process or in `rooms worker`):

1. read the take (no transaction held afterwards); nothing to do unless it is ACTIVE,
   FOSSIL and still holds raw audio;
2. read the raw blob and render both derivatives in the render pool (`workers.py`);
3. write both blobs under `derivatives/<id>/` (fixed keys: a re-run overwrites);
4. in the write slot, one INSERT ... SELECT ... WHERE the take is still ACTIVE per kind
   (`repository.attach`), upserting on UNIQUE(artifact_id, kind);
5. if the take went meanwhile (no row went in), delete what step 3 wrote.

A revocation that lands during 2-3 finds no row, deletes the prefix, marks the take; step 4
then inserts nothing and step 5 deletes the late blobs. One that lands after 4 finds the
rows and deletes them with their blobs (`recordings.removal.remove_takes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

from rooms.derivatives import loudness, render, repository
from rooms.derivatives.workers import RenderPool
from rooms.logging import get_logger
from rooms.models import utcnow
from rooms.recordings.removal import delete_blobs
from rooms.resources import Resources
from rooms.storage import BlobNotFound, BlobStore
from rooms.uow import unit_of_work

log = get_logger("rooms.derivatives")
RENDER_JOB = "render_derivatives"
MEASURE_JOB = "measure_loudness"
Stage = Callable[[str], Awaitable[None]]


class Outcome(StrEnum):
    RENDERED = "rendered"
    SKIPPED = "skipped"  # not (or no longer) a FOSSIL take with raw audio
    DISCARDED = "discarded"  # the take went while it rendered; its blobs were deleted


def render_pool(res: Resources) -> RenderPool:
    """The process's render pool, made on first use (closed with the resources)."""
    pool = res.extras.get("render_pool")
    if not isinstance(pool, RenderPool):
        pool = res.extras["render_pool"] = RenderPool(
            res.settings.derivative_render_workers, res.settings.derivative_render_timeout_s)
    return pool


def measure_job_id(artifact_id: int) -> str:
    """One queued measurement per take (the ingest's and the sweep's share it)."""
    return f"loudness:{artifact_id}"


def render_job_id(artifact_id: int) -> str:
    """One queued render per take, however often the ingest and the sweep ask."""
    return f"render:{artifact_id}"


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _put(blobs: BlobStore, key: str, data: bytes) -> None:
    await blobs.put(key, _once(data))


async def _discard(blobs: BlobStore, artifact_id: int) -> None:
    """Delete everything under the take's derivative prefix (a gone take keeps nothing)."""
    keys = await blobs.list(repository.prefix(artifact_id))
    if keys:
        await delete_blobs(blobs, keys)


async def _nothing(_: str) -> None:
    return None


async def render_take(res: Resources, artifact_id: int, *, stage: Stage = _nothing) -> Outcome:
    """Render and attach both derivatives of `artifact_id`, as the module says.

    `stage(name)` is awaited after the render ("rendered") and after the blobs are written
    ("stored"), so a test can make a revocation land exactly there. Raises on storage or
    render failures (the job runner retries); a retry overwrites, never duplicates."""
    async with res.sessions() as session:
        src = await repository.source(session, artifact_id)
    if src is None:
        return Outcome.SKIPPED
    if not src.renderable:
        if src.status in ("REVOKED", "EXPIRED"):
            await _discard(res.blobs, artifact_id)  # a crashed earlier try's leftovers
        return Outcome.SKIPPED
    try:
        wav = await res.blobs.read(src.raw_uri)
    except BlobNotFound:
        return Outcome.SKIPPED  # the raw expired or was revoked since the read
    seed = int.from_bytes(hashlib.sha256(f"{artifact_id}:{src.raw_sha256}".encode())
                          .digest()[:8], "big")
    renders = await render_pool(res).run(render.render_all, wav, seed)
    del wav
    await stage("rendered")
    blobs = {repository.SPECTROGRAM: renders.spectrogram_png,
             repository.ESSENCE: renders.essence_wav}
    for kind, data in blobs.items():
        await _put(res.blobs, repository.key(artifact_id, kind), data)
    await stage("stored")
    now = utcnow()
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        attached = [await repository.attach(uow.session, res.db, artifact_id, kind,
                                            repository.key(artifact_id, kind), now)
                    for kind in blobs]
        if all(attached):
            await repository.store_loudness(uow.session, artifact_id,
                                            raw=renders.loudness_lufs,
                                            essence=renders.essence_loudness_lufs)
    if not all(attached):
        await _discard(res.blobs, artifact_id)
        log.info("derivatives.discarded", artifact_id=artifact_id)
        return Outcome.DISCARDED
    log.info("derivatives.rendered", artifact_id=artifact_id,
             png_bytes=len(renders.spectrogram_png), essence_bytes=len(renders.essence_wav))
    return Outcome.RENDERED


async def measure_take(res: Resources, artifact_id: int) -> dict[str, float]:
    """Measure what of a live take is still unmeasured (raw, essence) in the render pool
    and store it (`measure_loudness` job; docs/loudness.md). Returns what it stored, by
    column; {} when there was nothing to do or the take went meanwhile. Storage and
    decoding errors raise (the job runner retries)."""
    async with res.sessions() as session:
        todo = await repository.unmeasured(session, artifact_id, utcnow())
    measured: dict[str, float] = {}
    for column, uri in (("loudness_lufs", todo.raw_uri),
                        ("essence_loudness_lufs", todo.essence_uri)):
        if not uri:
            continue
        try:
            wav = await res.blobs.read(uri)
        except BlobNotFound:
            continue  # expired or revoked since the read
        measured[column] = await render_pool(res).run(loudness.measure_wav, wav)
        del wav
    if not measured:
        return {}
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        stored = await repository.store_loudness(
            uow.session, artifact_id, raw=measured.get("loudness_lufs"),
            essence=measured.get("essence_loudness_lufs"))
    if not stored:
        return {}
    log.info("derivatives.loudness.measured", artifact_id=artifact_id, **measured)
    return measured
