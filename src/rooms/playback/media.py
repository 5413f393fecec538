"""The media proxy: GET /api/v1/media/raw/<token> and /media/spectrogram/<token>.

Audio streams from the blob store with Range support and `no-store`. A NOSAVE take is
claimed (EPHEMERAL -> REVOKED) by its first GET, which opens one listening window for that
client; its blob is deleted when the window closes (recordings/nosave.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from rooms.access import media_tokens
from rooms.access.media_tokens import (
    EPHEMERAL_AUDIO,
    RAW_PURPOSES,
    REVIEW_PURPOSES,
    SPECTROGRAM_IMAGE,
)
from rooms.deps import ResourcesDep
from rooms.errors import Gone, NotFound
from rooms.kit.clients import client_id
from rooms.logging import get_logger
from rooms.models import Artifact, Derivative, DerivativeKind, utcnow
from rooms.openapi import errors
from rooms.playback import playable
from rooms.playback.ranges import parse_range
from rooms.recordings import nosave, repository
from rooms.resources import Resources
from rooms.storage import BlobNotFound, BlobStore, BlobStream

router = APIRouter(prefix="/api/v1/media", tags=["media"])
log = get_logger("rooms.media")
NO_STORE = "no-store"
TOKEN_ERRORS = dict(e403="`token_invalid`, `token_expired`",
                    e410="`gone`: revoked, expired, or a NOSAVE take already played")


def _binary(media_type: str, what: str) -> dict[int | str, dict[str, object]]:
    body = {media_type: {"schema": {"type": "string", "format": "binary"}}}
    return {200: {"description": what, "content": body},
            206: {"description": f"{what}: the requested `Range`", "content": body,
                  "headers": {"Content-Range": {"schema": {"type": "string"}}}}}


def _found(artifact: Artifact | None) -> Artifact:
    if artifact is None:
        raise NotFound("no such recording", code="not_found")
    return artifact


def _live(artifact: Artifact | None, now: datetime) -> Artifact:
    found = _found(artifact)
    if not playable.is_live(found, now):
        raise Gone("this recording is no longer available", code="gone")
    return found


async def _open(blobs: BlobStore, key: str,
                range_header: str | None) -> tuple[BlobStream, bool]:
    try:
        if not range_header:
            return await blobs.open(key), False
        span = parse_range(range_header, await blobs.size(key))
        if span is None:
            return await blobs.open(key), False
        return await blobs.open(key, span[0], span[1]), True
    except BlobNotFound:
        raise Gone("this recording is no longer available", code="gone") from None


def _response(blob: BlobStream, partial: bool, media_type: str,
              body: AsyncIterator[bytes] | None = None) -> StreamingResponse:
    headers = {"Cache-Control": NO_STORE, "Accept-Ranges": "bytes",
               "Content-Length": str(blob.length)}
    if partial:
        end = blob.start + blob.length - 1
        headers["Content-Range"] = f"bytes {blob.start}-{end}/{blob.size}"
    return StreamingResponse(body or blob.chunks, status_code=206 if partial else 200,
                             media_type=media_type, headers=headers)


@router.get("/raw/{token}", response_class=StreamingResponse, responses={
    **_binary("audio/wav", "The take's audio"),
    **errors(403, 404, 410, 416, 503, **TOKEN_ERRORS)})
async def raw_audio(token: str, request: Request, res: ResourcesDep) -> StreamingResponse:
    """Stream a take's audio (raw, or its essence once a FOSSIL's raw expired)."""
    purpose, artifact_id = media_tokens.verify(res.settings, RAW_PURPOSES, token)
    if purpose == EPHEMERAL_AUDIO:
        return await _play_once(res, artifact_id, request)
    now = utcnow()
    async with res.sessions() as session:
        artifact = _found(await repository.get(session, artifact_id))
        key = playable.audio_key(artifact, now,
                                 await repository.derivatives_of(session, [artifact_id]),
                                 review=purpose in REVIEW_PURPOSES)
    if key is None:
        raise Gone("this recording is no longer available", code="gone")
    blob, partial = await _open(res.blobs, key, request.headers.get("range"))
    response = _response(blob, partial, "audio/wav")
    if "download" in request.query_params:  # a receipt's download_url
        response.headers["Content-Disposition"] = 'attachment; filename="recording.wav"'
    return response


async def _play_once(res: Resources, artifact_id: int, request: Request) -> StreamingResponse:
    """A NOSAVE take, for its one listener while the window is open (see recordings.nosave)."""
    key = await nosave.listen(res, artifact_id, client_id(request))
    blob, partial = await _open(res.blobs, key, request.headers.get("range"))
    return _response(blob, partial, "audio/wav")


@router.get("/spectrogram/{token}", response_class=StreamingResponse, responses={
    **_binary("image/png", "The spectrogram"), **errors(403, 404, 410, 416, 503, **TOKEN_ERRORS)})
async def spectrogram(token: str, request: Request, res: ResourcesDep) -> StreamingResponse:
    """A FOSSIL take's spectrogram PNG."""
    _, artifact_id = media_tokens.verify(res.settings, (SPECTROGRAM_IMAGE,), token)
    now = utcnow()
    async with res.sessions() as session:
        _live(await repository.get(session, artifact_id), now)
        image = (await session.execute(select(Derivative).where(
            Derivative.artifact_id == artifact_id,
            Derivative.kind == DerivativeKind.SPECTROGRAM_PNG))).scalar()
    if image is None:
        raise NotFound("this recording has no spectrogram", code="not_found")
    if image.expires_at is not None and image.expires_at <= now:
        raise Gone("this spectrogram has expired", code="gone")
    blob, partial = await _open(res.blobs, image.uri, request.headers.get("range"))
    return _response(blob, partial, "image/png")
