"""Ingest, ephemeral takes and revocation: the order of writes is the consent guarantee.

Ingest: the blob is written before the row commits, and deleted again if the commit fails;
a sweep deletes any blob whose row never arrived. Revocation deletes every blob of the take
from the store first and only then marks the rows, so an answer means the audio is gone.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from rooms import hours, steward
from rooms.config import Settings
from rooms.effects import CATALOG, DEFAULT_EFFECT, effect_metadata
from rooms.errors import Conflict, Gone, NotFound, RoomsError, Unavailable
from rooms.kit.times import iso
from rooms.kit.wav import WavInfo, inspect_wav
from rooms.live import surface
from rooms.logging import get_logger
from rooms.models import (
    Artifact,
    ArtifactStatus,
    ConsentManifest,
    ConsentMode,
    StewardActionName,
    utcnow,
)
from rooms.recordings import consent, repository
from rooms.recordings.removal import delete_blobs, remove_takes
from rooms.recordings.upload import ParsedUpload, UploadedFile
from rooms.storage import BlobStore, FileBlobStore
from rooms.uow import UnitOfWork

log = get_logger("rooms.recordings")

TOPIC_ALIASES = ("topic_tag", "topic", "category")
STATUS_ALIASES = ("lifecycle_status", "status")


@dataclass(frozen=True, slots=True)
class IngestResult:
    artifact: Artifact
    revocation_code: str
    replayed: bool = False


def new_blob_key(kind: str, now: datetime | None = None) -> str:
    """`raw/YYYY/MM/DD/<blob id>.wav` (UTC day): a random id, so the blob can be written
    before its row exists (and listings reveal nothing about how many takes there are); a
    day folder, so the orphan sweep lists only recent days, and an upload needs one file
    and one folder fsync (the day's folder exists for all but its first upload). Keys of
    the older layout (`raw/<blob id>/audio.wav`) keep working: a row holds its key."""
    day = (now or utcnow()).strftime("%Y/%m/%d")
    return f"{kind}/{day}/{secrets.token_hex(10)}.wav"


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
    """The participant's choice; never assumed (CONTRACT §4): absent or blank is 400."""
    mode = fields.get("consent_mode", "").strip().upper()
    if not mode:
        raise RoomsError("consent_mode is required: ROOM or FOSSIL (NOSAVE uses "
                         "/ephemeral/audio)", code="consent_required")
    if mode not in (ConsentMode.ROOM, ConsentMode.FOSSIL):
        raise RoomsError("consent_mode must be ROOM or FOSSIL (NOSAVE uses /ephemeral/audio)",
                         code="invalid_consent_mode")
    return ConsentMode(mode)


def _text_seen(fields: dict[str, str]) -> dict[str, Any]:
    try:
        return consent.text_seen(fields)
    except ValueError as exc:
        raise RoomsError(f"{exc} is not one this server knows "
                         f"(languages: {', '.join(consent.CONSENT_LANGUAGES)})",
                         code=f"invalid_{exc}") from None


def _effect(fields: dict[str, str]) -> str:
    code = fields.get("effect_profile", "").strip().lower() or DEFAULT_EFFECT
    if code not in CATALOG:
        raise RoomsError(f"effect_profile must be one of: {', '.join(CATALOG)}.",
                         code="invalid_effect_profile")
    return code


async def ensure_intake_open(uow: UnitOfWork) -> None:
    """503 `intake_paused` while the steward has paused intake (or maintenance is on)."""
    if (await steward.posture(uow.resources)).intake_closed:
        raise Unavailable("the kiosk is not taking recordings right now", code="intake_paused")
    openness = await hours.now_open(uow.resources)
    if not openness.intake:  # outside the opening hours: 503 `closed` with `opens_at`
        opens_at = openness.opens_at.get("intake")
        now = hours.state(uow.resources).clock()
        wait_s = 3600 if opens_at is None else (opens_at - now).total_seconds()
        raise Unavailable("the kiosk is closed now", code="closed",
                          headers={"Retry-After": str(max(1, min(3600, int(wait_s))))},
                          details={"opens_at": iso(opens_at)})


def validate_wav(upload: ParsedUpload, settings: Settings) -> WavInfo:
    if upload.file is None:
        raise RoomsError("attach the recording as the multipart part `file`", code="missing_file")
    return inspect_wav(upload.file.path, max_duration_s=settings.ingest_max_duration_seconds,
                       max_bytes=settings.ingest_max_upload_bytes)


class TakeIntake:
    """What happens to a take's spool in the worker thread of its last write
    (`receive_upload(finisher=...)`), so that an upload costs no hop of its own for it and
    the event loop never reads the file: the WAV is checked (`inspect_wav`: WavError, a 4xx,
    on a bad one), and with a file blob store the spool is installed as the blob at a new
    key (`FileBlobStore.install_sync`: rename, folder fsync). With S3 the store's own upload
    runs later, in `ingest`. Whoever made the blob must hand the intake to `ingest`, which
    deletes the blob again if the take is refused or its row never commits; a blob left by
    a request that was cancelled in between is an orphan, for `sweep_orphan_blobs`."""

    __slots__ = ("_blobs", "_kind", "_settings", "info", "key")

    def __init__(self, settings: Settings, blobs: BlobStore, kind: str) -> None:
        self._settings, self._blobs, self._kind = settings, blobs, kind
        self.info: WavInfo | None = None  # set once the WAV passed
        self.key: str | None = None  # set once the blob is installed at it

    def __call__(self, file: UploadedFile) -> None:
        settings = self._settings
        self.info = inspect_wav(file.path, max_duration_s=settings.ingest_max_duration_seconds,
                                max_bytes=settings.ingest_max_upload_bytes)
        if isinstance(self._blobs, FileBlobStore) and file.path.parent == self._blobs.staging_dir():
            key = new_blob_key(self._kind)
            self._blobs.install_sync(file.path, key, synced=file.synced)
            self.key = key


def _take(uow: UnitOfWork, upload: ParsedUpload,
          intake: TakeIntake | None) -> tuple[WavInfo, tuple[str, int] | None]:
    """The WAV's description, and the blob's key and compensation if the intake installed
    it (registered first, so that any refusal from here on deletes it)."""
    installed = None
    if intake is not None and intake.key is not None:
        key, blobs = intake.key, uow.blobs
        installed = key, uow.on_rollback(lambda: blobs.delete(key))
    if intake is not None and intake.info is not None:
        return intake.info, installed
    return validate_wav(upload, uow.resources.settings), installed


async def _insert(uow: UnitOfWork, manifest: ConsentManifest, artifact: Artifact,
                  blob: int) -> None:
    """Insert and commit the take's rows in one short transaction of their own, the same
    on both backends (`Database.write`); from then on the rows own the blob."""
    await uow.resources.db.write(
        lambda conn: repository.insert_take_sync(conn, manifest, artifact))
    uow.keep(blob)


async def _store(uow: UnitOfWork, blobs: BlobStore, kind: str,
                 upload: ParsedUpload) -> tuple[str, int]:
    """Write the blob before the row exists; delete it again if the transaction fails.
    Returns the key and the compensation's handle."""
    assert upload.file is not None
    key = new_blob_key(kind)
    try:
        await blobs.put_file(key, upload.file.path, move=True, synced=upload.file.synced)
    except Exception as exc:
        log.warning("recordings.store_failed", key=key, error=type(exc).__name__)
        raise Unavailable("the recording could not be stored; nothing was kept",
                          code="storage_unavailable") from exc
    return key, uow.on_rollback(lambda: blobs.delete(key))


async def ingest(uow: UnitOfWork, upload: ParsedUpload, *, scope: str | None,
                 intake: TakeIntake | None = None) -> IngestResult:
    """Store a take: its blob (unless `intake` installed it already), then its rows."""
    settings = uow.resources.settings
    info, installed = _take(uow, upload, intake)
    mode = _mode(upload.fields)
    effect = _effect(upload.fields)
    topic = _field(upload.fields, TOPIC_ALIASES, 64, "topic_tag")
    lifecycle = _field(upload.fields, STATUS_ALIASES, 32, "lifecycle_status").lower()
    assert upload.file is not None
    now = utcnow()
    code = consent.new_revocation_code(settings.secret_key.get_secret_value(), scope)
    manifest = ConsentManifest(created_at=now, json=consent.manifest(mode, settings, now)
                               | _text_seen(upload.fields),
                               revocation_token_hash=consent.hash_code(code))
    expires_at, raw_expires_at = consent.expiries(mode, settings, now)
    key, blob = installed or await _store(uow, uow.blobs, "raw", upload)
    artifact = Artifact(
        created_at=now, status=ArtifactStatus.ACTIVE, consent_mode=mode, consent=manifest,
        raw_uri=key, raw_sha256=upload.file.sha256, duration_ms=info.duration_ms,
        sample_rate=info.sample_rate, effect_profile=effect,
        effect_metadata=effect_metadata(effect), deployment_kind=settings.engine_deployment,
        topic_tag=topic, lifecycle_status=lifecycle, wear=0.0, play_count=0,
        expires_at=expires_at, raw_expires_at=raw_expires_at, idempotency_key=scope,
        held=settings.moderation == "hold")  # MODERATION=hold: waits for approval
    try:
        await _insert(uow, manifest, artifact, blob)
    except IntegrityError:
        if scope is None:
            raise
        raise Conflict("an upload with this Idempotency-Key is still being stored; retry",
                       code="idempotency_conflict") from None
    if not artifact.held:  # a held take is announced when a steward approves it
        uow.after_commit(lambda: surface.pool_changed(uow.events, "added", artifact.id))
    if mode == "FOSSIL":  # the render measures its loudness too (docs/loudness.md)
        uow.enqueue_after_commit("render_derivatives", artifact.id,
                                 job_id=f"render:{artifact.id}")
    else:
        uow.enqueue_after_commit("measure_loudness", artifact.id,
                                 job_id=f"loudness:{artifact.id}")
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


async def ingest_ephemeral(uow: UnitOfWork, upload: ParsedUpload,
                           intake: TakeIntake | None = None) -> Artifact:
    settings = uow.resources.settings
    info, installed = _take(uow, upload, intake)
    effect = _effect(upload.fields)
    assert upload.file is not None
    now = utcnow()
    code = consent.new_revocation_code(settings.secret_key.get_secret_value(), None)
    manifest = ConsentManifest(created_at=now,
                               json=consent.manifest(ConsentMode.NOSAVE, settings, now)
                               | _text_seen(upload.fields),
                               revocation_token_hash=consent.hash_code(code))
    expires_at, _ = consent.expiries(ConsentMode.NOSAVE, settings, now)
    key, blob = installed or await _store(uow, uow.blobs, "ephemeral", upload)
    artifact = Artifact(
        created_at=now, status=ArtifactStatus.EPHEMERAL, consent_mode=ConsentMode.NOSAVE,
        consent=manifest,
        raw_uri=key, raw_sha256=upload.file.sha256, duration_ms=info.duration_ms,
        sample_rate=info.sample_rate, effect_profile=effect,
        effect_metadata=effect_metadata(effect), deployment_kind=settings.engine_deployment,
        expires_at=expires_at, raw_expires_at=expires_at, wear=0.0, play_count=0)
    await _insert(uow, manifest, artifact, blob)
    return artifact


async def revoke(uow: UnitOfWork, raw_code: str) -> tuple[int, int]:
    """A participant's code: every take of its consent manifest goes (`remove_takes`).
    Returns (takes revoked, derivatives deleted); 404 `unknown_token` for a code nobody
    holds; revoking twice answers (0, 0)."""
    hashes = consent.candidate_hashes(raw_code)  # typed form, Crockford form, look-alikes
    if not hashes:
        raise NotFound("no recording has that code", code="unknown_token")
    manifest = await repository.consent_by_hashes(uow.session, hashes)
    if manifest is None or not manifest.json.get("revocation", {}).get("allowed", True):
        raise NotFound("no recording has that code", code="unknown_token")
    ids = [a.id for a in await repository.artifacts_of_consent(uow.session, manifest.id)]
    removed = await remove_takes(uow, ids, status=ArtifactStatus.REVOKED, change="revoked",
                                 action=StewardActionName.REVOCATION_COMPLETED,
                                 actor="participant", detail=f"{len(ids)} artifact(s) revoked")
    return len(removed.artifact_ids), removed.derivatives_deleted


async def consume_ephemeral(uow: UnitOfWork, artifact_id: int) -> None:
    """Dispose of a NOSAVE take now, unplayed or inside its listening window: delete its
    blob, then mark the row (a storage failure changes nothing, so the take is never marked
    gone while kept). The blob is deleted outside the write slot; the mark is one UPDATE."""
    state = await repository.nosave_state(uow.session, artifact_id)
    if state is None:
        raise NotFound("no such take", code="not_found")
    if not state.blob_key:
        raise Gone("this take was already played or disposed of", code="gone")
    await uow.end_read()
    await delete_blobs(uow.blobs, [state.blob_key])
    await uow.begin_write()
    await repository.blob_deleted(uow.session, artifact_id, state.blob_key)
