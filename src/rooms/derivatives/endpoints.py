"""GET /api/v1/surface/fossils and the operator's GET /api/v1/derivatives/spectrograms.

The images themselves are served by the media proxy (`/api/v1/media/spectrogram/<token>`,
playback/media.py) behind short-lived signed tokens; neither list names an artifact to the
public.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from rooms.access.media_tokens import SPECTROGRAM_IMAGE, media_url
from rooms.access.operator import OperatorDep
from rooms.deps import ResourcesDep
from rooms.derivatives import repository
from rooms.derivatives.schemas import FossilsOut, SpectrogramsOut
from rooms.kit.times import iso
from rooms.models import utcnow
from rooms.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["derivatives"])
NO_STORE = {"Cache-Control": "no-store"}
FOSSILS_SHOWN = 12
OPS_ERRORS = errors(401, 403, 503, e401="`ops_auth_required`: no valid session or bearer secret",
                    e403="`ops_network_forbidden`: outside OPS_ALLOWED_NETWORKS",
                    e503="`ops_not_configured`: OPS_SHARED_SECRET is empty")


@router.get("/surface/fossils", response_model=FossilsOut)
async def fossils(res: ResourcesDep) -> JSONResponse:
    """The newest FOSSIL spectrograms (at most 12): creation time and a signed image URL."""
    async with res.sessions() as session:
        found = await repository.fossil_images(session, utcnow(), FOSSILS_SHOWN)
    items = [{"created_at": iso(created),
              "image_url": media_url(res.settings, SPECTROGRAM_IMAGE, artifact_id)}
             for artifact_id, created in found]
    return JSONResponse({"items": items}, headers=NO_STORE)


@router.get("/derivatives/spectrograms", response_model=SpectrogramsOut, responses=OPS_ERRORS)
async def spectrograms(_: OperatorDep, res: ResourcesDep,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50,
                       cursor: Annotated[int | None, Query(ge=1)] = None) -> JSONResponse:
    """The operator's inventory of spectrograms, newest first; `cursor` pages on."""
    async with res.sessions() as session:
        rows = await repository.spectrograms(session, limit, cursor)
    items = [{"id": d.id, "artifact_id": d.artifact_id, "kind": d.kind,
              "created_at": iso(d.created_at), "expires_at": iso(d.expires_at),
              "image_url": media_url(res.settings, SPECTROGRAM_IMAGE, d.artifact_id)}
             for d in rows]
    nxt = rows[-1].id if len(rows) == limit else None
    return JSONResponse({"items": items, "next_cursor": nxt}, headers=NO_STORE)
