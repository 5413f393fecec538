"""POST /api/v1/artifacts/audio, /ephemeral/audio, /ephemeral/consume, /revoke."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from rooms.access import media_tokens
from rooms.access.media_tokens import EPHEMERAL_AUDIO, media_url, token_from_url
from rooms.deps import ResourcesDep, UowDep
from rooms.effects import CATALOG, DEFAULT_EFFECT
from rooms.errors import RoomsError
from rooms.kit.times import iso
from rooms.models import ConsentMode
from rooms.openapi import errors
from rooms.recordings import service
from rooms.recordings.schemas import (
    ArtifactOut,
    ConsumeIn,
    ConsumeOut,
    EphemeralOut,
    IngestOut,
    RevokeIn,
    RevokeOut,
)
from rooms.recordings.throttle import charge, charge_revoke, client_id
from rooms.recordings.upload import ParsedUpload, receive_upload
from rooms.resources import Resources

router = APIRouter(prefix="/api/v1", tags=["recordings"])
NO_STORE = {"Cache-Control": "no-store"}


def _multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses its own multipart body (upload.py)."""
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "properties": properties, "required": required},
        "encoding": {"file": {"contentType": "audio/wav, audio/x-wav, audio/wave, "
                                             "application/octet-stream"}}}}}}


FILE = {"type": "string", "format": "binary",
        "description": "The take: RIFF/WAVE PCM, mono (CONTRACT §4)"}
EFFECT = {"type": "string", "enum": list(CATALOG), "default": DEFAULT_EFFECT,
          "description": "A memory color from GET /api/v1/effects"}
CONSENT_TEXT = {
    "consent_version": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$",
                        "description": "Which consent text the visitor read (the kiosk's "
                                       "catalog version id); kept in the manifest"},
    "consent_language": {"type": "string", "enum": ["en", "es_mx_ca"],
                         "description": "The language of that text"}}
TAKE_BODY = _multipart({
    "file": FILE,
    "consent_mode": {"type": "string", "enum": [ConsentMode.ROOM, ConsentMode.FOSSIL],
                     "description": "Required: missing is 400 `consent_required`"},
    "effect_profile": EFFECT,
    "topic_tag": {"type": "string", "maxLength": 64},
    "duration_ms": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                    "description": "The client's own measure; the server reads the WAV"},
    **CONSENT_TEXT,
}, ["file", "consent_mode"])
EPHEMERAL_BODY = _multipart({"file": FILE, "effect_profile": EFFECT, **CONSENT_TEXT}, ["file"])
UPLOAD_ERRORS = errors(
    400, 408, 413, 415, 429, 503,
    e400="`consent_required`, `invalid_wav`, `not_mono`, `too_long`, `empty_audio`, "
         "`missing_file`, `upload_incomplete`, `upload_interrupted`, `invalid_multipart`, "
         "`invalid_request`, …",
    e408="`upload_timeout`: no body bytes for SERVER_BODY_IDLE_TIMEOUT_SECONDS",
    e413="`too_large`", e415="`unsupported_media_type`, `unsupported_wav`",
    e429="`ingest_budget_exceeded`, with Retry-After",
    e503="`intake_paused`, `database_unavailable`, `storage_unavailable`, `uploads_busy` "
         "(with Retry-After)")


def _upload(request: Request, res: Resources,
            intake: service.TakeIntake) -> AbstractAsyncContextManager[ParsedUpload]:
    """The request's multipart body, its file checked and stored by `intake` in the thread
    of its last write; the spool is deleted when the `async with` exits."""
    return receive_upload(request, max_bytes=res.settings.ingest_max_upload_bytes,
                          staging=res.blobs.staging_dir(), finisher=intake)


async def _charge_ingest(request: Request, res: Resources) -> None:
    s = res.settings
    await charge(res.limiter, request, scope="ingest", client_rate=s.public_ingest_rate,
                 ip_rate=s.public_ingest_ip_rate, code="ingest_budget_exceeded",
                 what="recordings from this kiosk")


@router.post("/artifacts/audio", status_code=201, response_model=IngestOut,
             responses=UPLOAD_ERRORS, openapi_extra=TAKE_BODY)
async def create_artifact(request: Request, uow: UowDep, res: ResourcesDep,
                          idempotency_key: Annotated[str | None, Header()] = None
                          ) -> JSONResponse:
    """Store a participant's take (ROOM or FOSSIL) and return its revocation code once."""
    await service.ensure_intake_open(uow)
    scope = service.idempotency_scope(client_id(request), idempotency_key)
    if scope is not None and (first := await service.replay(uow, scope)) is not None:
        return _ingest_response(first)
    await _charge_ingest(request, res)
    intake = service.TakeIntake(res.settings, res.blobs, "raw")
    async with _upload(request, res, intake) as upload:
        result = await service.ingest(uow, upload, scope=scope, intake=intake)
    return _ingest_response(result)


def _ingest_response(result: service.IngestResult) -> JSONResponse:
    body = IngestOut(artifact=ArtifactOut.of(result.artifact),
                     revocation_token=result.revocation_code)
    headers = {**NO_STORE, **({"Idempotent-Replayed": "true"} if result.replayed else {})}
    return JSONResponse(body.model_dump(), status_code=201, headers=headers)


@router.post("/ephemeral/audio", status_code=201, response_model=EphemeralOut,
             responses=UPLOAD_ERRORS, openapi_extra=EPHEMERAL_BODY)
async def create_ephemeral(request: Request, uow: UowDep, res: ResourcesDep) -> JSONResponse:
    """NOSAVE: keep the take just long enough for one play, then it is gone."""
    await service.ensure_intake_open(uow)
    await _charge_ingest(request, res)
    intake = service.TakeIntake(res.settings, res.blobs, "ephemeral")
    async with _upload(request, res, intake) as upload:
        artifact = await service.ingest_ephemeral(uow, upload, intake)
    lifetime = max(1, int((artifact.expires_at - artifact.created_at).total_seconds())
                   if artifact.expires_at else 300)
    ttl = lifetime + res.settings.nosave_listen_window_s  # a window opened at the last moment
    body = EphemeralOut(artifact_id=artifact.id,
                        play_url=media_url(res.settings, EPHEMERAL_AUDIO, artifact.id, ttl),
                        expires_at=iso(artifact.expires_at))
    return JSONResponse(body.model_dump(), status_code=201, headers=NO_STORE)


@router.post("/ephemeral/consume", response_model=ConsumeOut,
             responses=errors(400, 403, 404, 410, 503, e403="`token_invalid`, `token_expired`",
                              e410="`gone`: already played or expired"))
async def consume_ephemeral(body: ConsumeIn, uow: UowDep, res: ResourcesDep) -> JSONResponse:
    """Dispose of a NOSAVE take without playing it."""
    raw = body.token or (token_from_url(body.play_url) if body.play_url else None)
    if not raw:
        raise RoomsError("send play_url or token", code="invalid_request")
    _, artifact_id = media_tokens.verify(res.settings, (EPHEMERAL_AUDIO,), raw)
    await service.consume_ephemeral(uow, artifact_id)
    return JSONResponse(ConsumeOut(consumed=True).model_dump(), headers=NO_STORE)


@router.post("/revoke", response_model=RevokeOut,
             responses=errors(400, 404, 429, 503, e404="`not_found`: no take has this code",
                              e429="`revoke_throttled`, with Retry-After"))
async def revoke(body: RevokeIn, request: Request, uow: UowDep,
                 res: ResourcesDep) -> JSONResponse:
    """Remove everything of a take: raw audio, derivatives, and it never plays again."""
    await charge_revoke(res.limiter, request, res.settings)
    revoked, derivatives = await service.revoke(uow, body.token)
    return JSONResponse(RevokeOut(revoked=revoked, derivatives_deleted=derivatives).model_dump(),
                        headers=NO_STORE)


