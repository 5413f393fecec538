"""POST /api/v1/receipt: a visitor's own take, found by their revocation code.

The visitor's page (`/revoke/`) lists what the code holds with short-lived signed links to
listen and to download, before they remove it. The lookup shares the revocation throttle
(the same budget: one guess is one guess, whichever door it knocks on), forgives what hands
do to a code (`consent.candidate_hashes`), and answers an unknown code with 404 and nothing
else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from rooms.access.media_tokens import RECEIPT_AUDIO, media_url
from rooms.deps import ResourcesDep, UowDep
from rooms.errors import NotFound
from rooms.kit.times import iso
from rooms.models import Artifact
from rooms.models.enums import ArtifactStatus
from rooms.openapi import errors
from rooms.recordings import consent, repository
from rooms.recordings.throttle import charge_revoke
from rooms.uow import UnitOfWork

router = APIRouter(prefix="/api/v1", tags=["recordings"])
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
RECEIPT_URL_TTL_S = 600


class ReceiptIn(BaseModel):
    token: str = Field(min_length=1, max_length=64)


class ReceiptTakeOut(BaseModel):
    status: str
    consent_mode: str
    created_at: str | None
    duration_ms: int
    audio_url: str | None
    download_url: str | None
    consent_text_version: str | None = None
    consent_language: str | None = None


class ReceiptOut(BaseModel):
    takes: list[ReceiptTakeOut]


def _take(artifact: Artifact, manifest_json: dict[str, Any], uow: UnitOfWork) -> dict[str, Any]:
    playable = artifact.status == ArtifactStatus.ACTIVE
    url = (media_url(uow.resources.settings, RECEIPT_AUDIO, artifact.id, RECEIPT_URL_TTL_S)
           if playable else None)
    seen = manifest_json.get("consent_text") or {}
    return {"status": artifact.status, "consent_mode": artifact.consent_mode,
            "created_at": iso(artifact.created_at), "duration_ms": artifact.duration_ms,
            "audio_url": url, "download_url": f"{url}?download=1" if url else None,
            "consent_text_version": seen.get("version"), "consent_language": seen.get("language")}


async def takes_of_code(uow: UnitOfWork, raw_code: str) -> list[dict[str, Any]]:
    """What the code holds, oldest first. 404 `unknown_token` for a code nobody holds (or
    one that cannot be a code)."""
    manifest = await repository.consent_by_hashes(uow.session, consent.candidate_hashes(raw_code))
    if manifest is None or not manifest.json.get("revocation", {}).get("allowed", True):
        raise NotFound("no recording has that code", code="unknown_token")
    rows = (await uow.session.execute(select(Artifact).where(
        Artifact.consent_id == manifest.id).order_by(Artifact.id))).scalars().all()
    return [_take(a, manifest.json, uow) for a in rows]


@router.post("/receipt", response_model=ReceiptOut,
             responses=errors(400, 404, 429, 503, e404="`unknown_token`: no take has this code",
                              e429="`revoke_throttled`, with Retry-After"))
async def receipt(body: ReceiptIn, request: Request, uow: UowDep,
                  res: ResourcesDep) -> JSONResponse:
    """The visitor's own take: status, consent, and signed links to listen and download."""
    await charge_revoke(res.limiter, request, res.settings)
    return JSONResponse({"takes": await takes_of_code(uow, body.token)}, headers=NO_STORE)
