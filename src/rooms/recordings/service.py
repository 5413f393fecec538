"""Ingest, ephemeral takes and revocation: the order of writes is the consent guarantee.

Ingest: the blob is written before the row commits, and deleted again if the commit fails;
a sweep deletes any blob whose row never arrived. Revocation deletes every blob of the take
from the store first and only then marks the rows, so an answer means the audio is gone.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from rooms.config import Settings
from rooms.deps import UnitOfWork
from rooms.effects import CATALOG, DEFAULT_EFFECT, effect_metadata
from rooms.errors import Conflict, Gone, NotFound, RoomsError, Unavailable
from rooms.kit.wav import WavInfo, inspect_wav
from rooms.live import surface
from rooms.logging import get_logger
from rooms.models import (
    Artifact,
    ArtifactStatus,
    ConsentManifest,
    ConsentMode,
    StewardAction,
    StewardActionName,
    utcnow,
)
from rooms.recordings import consent, repository
from rooms.recordings.upload import ParsedUpload
from rooms.resources import Resources
from rooms.storage import BlobStore

log = get_logger("rooms.recordings")

TOPIC_ALIASES = ("topic_tag", "topic", "category")
STATUS_ALIASES = ("lifecycle_status", "status")


@dataclass(frozen=True, slots=True)
class IngestResult:
    artifact: Artifact
    revocation_code: str
    replayed: bool = False


def new_blob_key(kind: str) -> str:
    """`raw/<blob id>/audio.wav`: a random id, so the blob can be written before its row
    exists (and storage listings reveal nothing about how many takes there are)."""
    return f"{kind}/{secrets.token_hex(10)}/audio.wav"


def idempotency_scope(client: str, header: str | None) -> str | None:
    if not header:
        return None
    if len(header) > 200:
        raise RoomsError("Idempotency-Key is longer than 200 characters",
                         code="invalid_idempotency_key")
    return hashlib.sha256(f"{client}\0{header}".encode()).hexdigest()


def _field(fields: dict[str, str], names: tuple[str, ...], limit: int, what: str) -> str:
    value = next((fields[n] for n in names if n in fields), "").strip()
    if len(value) > limit:
        raise RoomsError(f"{what} must be at most {limit} characters", code=f"invalid_{what}")
    return value


def _mode(fields: dict[str, str]) -> ConsentMode:
    mode = fields.get("consent_mode", ConsentMode.ROOM).strip().upper() or ConsentMode.ROOM
    if mode not in (ConsentMode.ROOM, ConsentMode.FOSSIL):
        raise RoomsError("consent_mode must be ROOM or FOSSIL (NOSAVE uses /ephemeral/audio)",
                         code="invalid_consent_mode")
    return ConsentMode(mode)


def _effect(fields: dict[str, str]) -> str:
    code = fields.get("effect_profile", "").strip().lower() or DEFAULT_EFFECT
    if code not in CATALOG:
        raise RoomsError(f"effect_profile must be one of: {', '.join(CATALOG)}.",
                         code="invalid_effect_profile")
    return code


STEWARD_CACHE_S = 1.0  # a steward's switch reaches every process within a second


INTAKE_CACHE = "intake_closed"


def forget_intake_state(res: Resources) -> None:
    """Make the next upload on this process read the switches afresh (after a change)."""
    res.extras.pop(INTAKE_CACHE, None)


async def ensure_intake_open(uow: UnitOfWork) -> None:
    cache = uow.resources.extras
    cached = cache.get(INTAKE_CACHE)
    if cached is None or time.monotonic() - cached[0] > STEWARD_CACHE_S:
        state = await repository.steward_state(uow.session)
        closed = state is not None and (state.intake_paused or state.maintenance_mode)
        cache[INTAKE_CACHE] = cached = (time.monotonic(), closed)
    if cached[1]:
        raise Unavailable("the kiosk is not taking recordings right now", code="intake_paused")


def validate_wav(upload: ParsedUpload, settings: Settings) -> WavInfo:
    if upload.file is None:
        raise RoomsError("attach the recording as the multipart part `file`", code="missing_file")
    return inspect_wav(upload.file.path, max_duration_s=settings.ingest_max_duration_seconds,
                       max_bytes=settings.ingest_max_upload_bytes)


async def _insert(uow: UnitOfWork, manifest: ConsentManifest, artifact: Artifact) -> None:
    """Insert the take's rows: on SQLite committed in one thread hop, else in the request's
    transaction. Either way the blob is already stored and is deleted if this fails."""
    writer = uow.resources.sqlite_writer
    if writer is None:
        uow.session.add(artifact)
        await uow.session.flush()
        return
    await asyncio.to_thread(repository.insert_take_sync, writer, manifest, artifact)


async def _store(uow: UnitOfWork, blobs: BlobStore, kind: str, upload: ParsedUpload) -> str:
    """Write the blob before the row exists; delete it again if the transaction fails."""
    assert upload.file is not None
    key = new_blob_key(kind)
    try:
        await blobs.put_file(key, upload.file.path, move=True)
    except Exception as exc:
        log.warning("recordings.store_failed", key=key, error=type(exc).__name__)
        raise Unavailable("the recording could not be stored; nothing was kept",
                          code="storage_unavailable") from exc
    uow.on_rollback(lambda: blobs.delete(key))
    return key


async def ingest(uow: UnitOfWork, upload: ParsedUpload, *, scope: str | None) -> IngestResult:
    settings = uow.resources.settings
    info = validate_wav(upload, settings)
    mode = _mode(upload.fields)
    effect = _effect(upload.fields)
    topic = _field(upload.fields, TOPIC_ALIASES, 64, "topic_tag")
    lifecycle = _field(upload.fields, STATUS_ALIASES, 32, "lifecycle_status").lower()
    assert upload.file is not None
    now = utcnow()
    code = consent.new_revocation_code(settings.secret_key.get_secret_value(), scope)
    manifest = ConsentManifest(created_at=now, json=consent.manifest(mode, settings, now),
                               revocation_token_hash=consent.hash_code(code))
    expires_at, raw_expires_at = consent.expiries(mode, settings, now)
    key = await _store(uow, uow.resources.blobs, "raw", upload)
    await uow.begin_write()
    artifact = Artifact(
        created_at=now, status=ArtifactStatus.ACTIVE, consent_mode=mode, consent=manifest,
        raw_uri=key, raw_sha256=upload.file.sha256, duration_ms=info.duration_ms,
        sample_rate=info.sample_rate, effect_profile=effect,
        effect_metadata=effect_metadata(effect), deployment_kind=settings.engine_deployment,
        topic_tag=topic, lifecycle_status=lifecycle, wear=0.0, play_count=0,
        expires_at=expires_at, raw_expires_at=raw_expires_at, idempotency_key=scope)
    try:
        await _insert(uow, manifest, artifact)
    except IntegrityError:
        if scope is None:
            raise
        raise Conflict("an upload with this Idempotency-Key is still being stored; retry",
                       code="idempotency_conflict") from None
    uow.after_commit(lambda: surface.pool_changed(uow.resources.hub, "added", artifact.id))
    log.info("recordings.ingest.accepted", artifact_id=artifact.id, mode=mode,
             duration_ms=info.duration_ms)
    return IngestResult(artifact, code)


async def replay(uow: UnitOfWork, scope: str) -> IngestResult | None:
    """The first response to a retried upload with the same Idempotency-Key."""
    existing = await repository.by_idempotency_key(uow.session, scope)
    if existing is None:
        return None
    if existing.status == ArtifactStatus.REVOKED:
        raise Gone("that recording was revoked", code="revoked")
    code = consent.new_revocation_code(
        uow.resources.settings.secret_key.get_secret_value(), scope)
    return IngestResult(existing, code, replayed=True)


async def ingest_ephemeral(uow: UnitOfWork, upload: ParsedUpload) -> Artifact:
    settings = uow.resources.settings
    info = validate_wav(upload, settings)
    effect = _effect(upload.fields)
    assert upload.file is not None
    now = utcnow()
    code = consent.new_revocation_code(settings.secret_key.get_secret_value(), None)
    manifest = ConsentManifest(created_at=now,
                               json=consent.manifest(ConsentMode.NOSAVE, settings, now),
                               revocation_token_hash=consent.hash_code(code))
    expires_at, _ = consent.expiries(ConsentMode.NOSAVE, settings, now)
    key = await _store(uow, uow.resources.blobs, "ephemeral", upload)
    await uow.begin_write()
    artifact = Artifact(
        created_at=now, status=ArtifactStatus.EPHEMERAL, consent_mode=ConsentMode.NOSAVE,
        consent=manifest,
        raw_uri=key, raw_sha256=upload.file.sha256, duration_ms=info.duration_ms,
        sample_rate=info.sample_rate, effect_profile=effect,
        effect_metadata=effect_metadata(effect), deployment_kind=settings.engine_deployment,
        expires_at=expires_at, raw_expires_at=expires_at, wear=0.0, play_count=0)
    await _insert(uow, manifest, artifact)
    return artifact


async def delete_blobs(blobs: BlobStore, keys: list[str]) -> None:
    """Delete every key or raise 503: an answer to the participant means the audio is gone."""
    results = await asyncio.gather(*(blobs.delete(k) for k in keys), return_exceptions=True)
    failed = [k for k, r in zip(keys, results, strict=True) if isinstance(r, BaseException)]
    if failed:
        log.warning("recordings.delete_failed", keys=len(failed))
        raise Unavailable("storage is unreachable; nothing was changed, try again",
                          code="storage_unavailable")


async def revoke(uow: UnitOfWork, raw_code: str) -> tuple[int, int]:
    code = consent.normalize_code(raw_code)
    if code is None:
        raise NotFound("no recording has that code", code="unknown_token")
    await uow.begin_write()  # before the first read: SQLite cannot upgrade a stale snapshot
    manifest = await repository.consent_by_hash(uow.session, consent.hash_code(code))
    if manifest is None or not manifest.json.get("revocation", {}).get("allowed", True):
        raise NotFound("no recording has that code", code="unknown_token")
    artifacts = [a for a in await repository.artifacts_of_consent(uow.session, manifest.id)
                 if a.status != ArtifactStatus.REVOKED]
    derivatives = await repository.derivatives_of(uow.session, [a.id for a in artifacts])
    keys = [a.raw_uri for a in artifacts if a.raw_uri] + [d.uri for d in derivatives if d.uri]
    await delete_blobs(uow.resources.blobs, keys)
    for artifact in artifacts:
        artifact.status, artifact.raw_uri = ArtifactStatus.REVOKED, ""
    for derivative in derivatives:
        await uow.session.delete(derivative)
    uow.session.add(StewardAction(action=StewardActionName.REVOCATION_COMPLETED,
                                  actor="participant",
                                  detail=f"{len(artifacts)} artifact(s) revoked",
                                  payload={"artifact_ids": [a.id for a in artifacts],
                                           "derivatives_deleted": len(derivatives)}))
    for gone in artifacts:
        uow.after_commit(functools.partial(surface.pool_changed, uow.resources.hub, "revoked",
                                           gone.id))
    log.info("recordings.revoked", artifacts=len(artifacts), derivatives=len(derivatives))
    return len(artifacts), len(derivatives)


async def consume_ephemeral(uow: UnitOfWork, artifact_id: int) -> None:
    """Dispose of an unplayed NOSAVE take: claim the row, delete the blob, then commit (a
    storage failure rolls the claim back, so the take is never marked gone while kept)."""
    await uow.begin_write()
    key = await repository.claim_ephemeral(uow.session, artifact_id)
    if key is None:
        if await repository.get(uow.session, artifact_id) is None:
            raise NotFound("no such take", code="not_found")
        raise Gone("this take was already played or disposed of", code="gone")
    if key:
        await delete_blobs(uow.resources.blobs, [key])
