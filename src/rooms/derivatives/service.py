"""Rendering a FOSSIL take's derivatives, race-free against revocation and retention.

`render_take` (the `render_derivatives` job, in-process or in `rooms worker`):

1. read the take (no transaction held afterwards); nothing to do unless it is ACTIVE,
   FOSSIL and still holds raw audio;
2. read the raw blob and render both derivatives in the render pool (`workers.py`);
3. write both blobs under `derivatives/<id>/` (fixed keys: a re-run overwrites); with the
   file store the render worker does 2 and 3 itself (`offload.render_file_blobs`), so the
   API process that runs the job never reads the take or holds the renders;
4. in the write slot, one INSERT ... SELECT ... WHERE the take is still ACTIVE per kind
   (`repository.attach`), upserting on UNIQUE(artifact_id, kind), and the loudness, in one
   short transaction (`Database.write`: one thread hop on SQLite, like the read in 1);
5. if the take went meanwhile (no row went in), delete what step 3 wrote.

A revocation that lands during 2-3 finds no row, deletes the prefix, marks the take; step 4
then inserts nothing and step 5 deletes the late blobs. One that lands after 4 finds the
rows and deletes them with their blobs (`recordings.removal.remove_takes`).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum

from sqlalchemy import Connection

from rooms.derivatives import offload, repository
from rooms.derivatives.workers import RenderPool
from rooms.logging import get_logger
from rooms.models import utcnow
from rooms.recordings.removal import delete_blobs
from rooms.resources import Resources
from rooms.storage import BlobNotFound, BlobStore, FileBlobStore

log = get_logger("rooms.derivatives")
RENDER_JOB = "render_derivatives"
MEASURE_JOB = "measure_loudness"
MEASURE_BATCH = 16  # takes one measure_loudness job measures at most (measure_take)
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


async def _render_and_store(res: Resources, raw_key: str, keys: dict[str, str],
                            seed: int) -> offload.Stored | None:
    """Render the take at `raw_key` and store each render under `keys[kind]`; None when
    the raw blob is gone. With the file store the render worker reads and writes the blobs
    itself; with any other store this process does the I/O (on S3 that is `rooms worker`,
    never the API)."""
    pool = render_pool(res)
    if isinstance(res.blobs, FileBlobStore):
        return await pool.run(offload.render_file_blobs, str(res.blobs.root), raw_key,
                              keys, seed)
    try:
        wav = await res.blobs.read(raw_key)
    except BlobNotFound:
        return None
    renders = await pool.run(offload.render_bytes, wav, seed)
    del wav
    data = {repository.SPECTROGRAM: renders.spectrogram_png,
            repository.ESSENCE: renders.essence_wav}
    for kind, key in keys.items():
        await _put(res.blobs, key, data[kind])
    return offload.Stored({kind: len(data[kind]) for kind in keys}, renders.loudness_lufs,
                          renders.essence_loudness_lufs)


async def _measure(res: Resources, key: str) -> float | None:
    """The loudness of the blob at `key` in a store other than files (S3: this process
    reads it, the render pool measures it); None when it is gone."""
    try:
        wav = await res.blobs.read(key)
    except BlobNotFound:
        return None
    return await render_pool(res).run(offload.measure_bytes, wav)


async def _nothing(_: str) -> None:
    return None


async def render_take(res: Resources, artifact_id: int, *, stage: Stage = _nothing) -> Outcome:
    """Render and attach both derivatives of `artifact_id`, as the module says.

    `stage(name)` is awaited once the renders are done ("rendered") and their blobs written
    ("stored"; both land together, the worker writes them), so a test can make a revocation
    land there. Raises on storage or
    render failures (the job runner retries); a retry overwrites, never duplicates."""
    src = await res.db.read(lambda conn: repository.source(conn, artifact_id))
    if src is None:
        return Outcome.SKIPPED
    if not src.renderable:
        if src.status in ("REVOKED", "EXPIRED"):
            await _discard(res.blobs, artifact_id)  # a crashed earlier try's leftovers
        return Outcome.SKIPPED
    seed = int.from_bytes(hashlib.sha256(f"{artifact_id}:{src.raw_sha256}".encode())
                          .digest()[:8], "big")
    keys = {kind: repository.key(artifact_id, kind) for kind in repository.KINDS}
    stored = await _render_and_store(res, src.raw_uri, keys, seed)
    if stored is None:
        return Outcome.SKIPPED  # the raw expired or was revoked since the read
    await stage("rendered")
    await stage("stored")
    now = utcnow()

    def attach(conn: Connection) -> list[bool]:
        attached = [repository.attach(conn, res.db, artifact_id, kind, keys[kind], now)
                    for kind in keys]
        if all(attached):
            repository.set_loudness(conn, artifact_id, raw=stored.loudness_lufs,
                                    essence=stored.essence_loudness_lufs)
        return attached

    attached = await res.db.write(attach)
    if not all(attached):
        await _discard(res.blobs, artifact_id)
        log.info("derivatives.discarded", artifact_id=artifact_id)
        return Outcome.DISCARDED
    log.info("derivatives.rendered", artifact_id=artifact_id,
             png_bytes=stored.sizes[repository.SPECTROGRAM],
             essence_bytes=stored.sizes[repository.ESSENCE])
    return Outcome.RENDERED


async def measure_take(res: Resources, artifact_id: int) -> dict[str, float]:
    """Measure what of a live take is still unmeasured (raw, essence) in the render pool
    and store it (`measure_loudness` job; docs/loudness.md). The same job also measures up
    to `MEASURE_BATCH - 1` newer takes still waiting (newest first), in one trip to the
    pool and one write, so a burst of uploads costs a few jobs' work, not one each; the
    jobs queued for those takes then find nothing to do. Returns what it stored for
    `artifact_id`, by column; {} when there was nothing to do or the take went meanwhile.
    Storage and decoding errors raise (the job runner retries)."""
    todo = await res.db.read(
        lambda conn: repository.to_measure(conn, artifact_id, utcnow(), MEASURE_BATCH))
    wanted = [(take, column, uri) for take, item in todo.items()
              for column, uri in (("loudness_lufs", item.raw_uri),
                                  ("essence_loudness_lufs", item.essence_uri)) if uri]
    if not wanted:
        return {}
    values = await _measure_all(res, [uri for _, _, uri in wanted])
    measured: dict[int, dict[str, float]] = {}
    for (take, column, _), value in zip(wanted, values, strict=True):
        if value is not None:  # None: expired or revoked since the read
            measured.setdefault(take, {})[column] = value
    if not measured:
        return {}

    def store(conn: Connection) -> set[int]:
        return {take for take, cols in measured.items() if repository.set_loudness(
            conn, take, raw=cols.get("loudness_lufs"),
            essence=cols.get("essence_loudness_lufs"))}
    stored = await res.db.write(store)
    log.info("derivatives.loudness.measured", artifact_id=artifact_id, takes=len(stored),
             **measured.get(artifact_id, {}))
    return measured[artifact_id] if artifact_id in stored else {}


async def _measure_all(res: Resources, keys: list[str]) -> list[float | None]:
    """The loudness of each blob (None where it is gone): with the file store in one call
    to the render pool, whose worker reads the blobs itself."""
    if isinstance(res.blobs, FileBlobStore):
        return await render_pool(res).run(offload.measure_file_blobs, str(res.blobs.root),
                                          keys)
    return [await _measure(res, key) for key in keys]
