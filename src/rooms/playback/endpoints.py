"""GET /api/v1/pool/next, POST /api/v1/pool/heard/<token>, GET /api/v1/surface/state,
GET /api/v1/room/composition."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from rooms import hours
from rooms.deps import ResourcesDep
from rooms.effects import catalog
from rooms.errors import RoomsError
from rooms.openapi import errors
from rooms.playback import composition, service
from rooms.playback.classify import DENSITIES, LANES, MOODS
from rooms.playback.runtime import pool_runtime
from rooms.playback.schemas import (
    CompositionOut,
    EffectOut,
    HeardOut,
    PoolNextOut,
    SurfaceStateOut,
)
from rooms.recordings.throttle import peek
from rooms.web.kiosk import kiosk_view

router = APIRouter(prefix="/api/v1", tags=["playback"])
NO_STORE = {"Cache-Control": "no-store"}
MAX_PARAM = 2048
# The schema names the values the server takes (case and surrounding blanks are forgiven);
# `_choice` still checks them, so a wrong one answers its own `invalid_<name>` code.
LANE = Query(json_schema_extra={"enum": ["any", *LANES]})
DENSITY = Query(json_schema_extra={"enum": ["any", *DENSITIES]})
MOOD = Query(json_schema_extra={"enum": ["any", *MOODS]})
EXCLUDE_IDS = Query(description="Up to 50 comma-separated artifact ids to skip",
                    json_schema_extra={"pattern": r"^ *[0-9]{0,18}( *, *[0-9]{0,18})* *$"})


def _choice(name: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    try:
        return service.choose(value, allowed)
    except ValueError:
        raise RoomsError(f"{name} must be one of: any, {', '.join(allowed)}",
                         code=f"invalid_{name}") from None


def _query(lane: str | None, density: str | None, mood: str | None,
           exclude_ids: str | None) -> service.NextQuery:
    if exclude_ids is not None and len(exclude_ids) > MAX_PARAM:
        exclude_ids = exclude_ids[:MAX_PARAM].rsplit(",", 1)[0]  # the first 50 fit anyway
    try:
        exclude = service.parse_exclude(exclude_ids)
    except ValueError as exc:
        raise RoomsError(f"exclude_ids must be comma-separated artifact ids, not {exc}",
                         code="invalid_exclude_ids") from None
    return service.NextQuery(
        lane=_choice("lane", lane, LANES),  # type: ignore[arg-type]
        density=_choice("density", density, DENSITIES),  # type: ignore[arg-type]
        mood=_choice("mood", mood, MOODS),  # type: ignore[arg-type]
        exclude=exclude)


@router.get("/pool/next", response_model=PoolNextOut, responses=errors(
    400, 503, e400="`invalid_lane`, `invalid_density`, `invalid_mood`, `invalid_exclude_ids`"))
async def pool_next(res: ResourcesDep, lane: Annotated[str, LANE] = "any",
                    density: Annotated[str, DENSITY] = "any",
                    mood: Annotated[str, MOOD] = "any",
                    exclude_ids: Annotated[str, EXCLUDE_IDS] = "") -> JSONResponse:
    """The next take for the room to play, with signed audio and ack URLs; changes nothing."""
    body = await service.next_take(res, _query(lane, density, mood, exclude_ids))
    return JSONResponse(body, headers=NO_STORE)


@router.post("/pool/heard/{token}", response_model=HeardOut, responses=errors(
    403, 410, 503, e403="`token_invalid`, `token_expired`"))
async def pool_heard(token: str, res: ResourcesDep) -> JSONResponse:
    """Count one audible play (play_count, wear, last access); a token counts once."""
    return JSONResponse(await service.heard(res, token), headers=NO_STORE)


@router.get("/surface/state", response_model=SurfaceStateOut, responses=errors(503))
async def surface_state(request: Request, res: ResourcesDep) -> JSONResponse:
    """The steward's switches, the pool size and this kiosk's ingest budget (not charged)."""
    now = pool_runtime(res).clock()
    posture, size, _, _ = await service.read_pool(res, now, service.policy(res), None)
    budget = await peek(res.limiter, request, scope="ingest",
                        client_rate=res.settings.public_ingest_rate)
    body = {"intake_paused": posture.intake_closed,
            "playback_paused": posture.playback_stopped,
            "quieter_mode": posture.quieter_mode, "room_volume": posture.room_volume,
            "pool_size": size,
            "ingest_budget": {"limit": budget.limit, "remaining": budget.remaining,
                              "window_s": budget.window_s},
            "kiosk": kiosk_view(posture, res.settings)}
    openness = (await hours.now_open(res)).as_event()
    body.update(open=openness.pop("open"), next_change_at=openness.pop("next_change_at"),
                hours=openness)
    return JSONResponse(body, headers=NO_STORE)


@router.get("/effects", response_model=list[EffectOut])
async def effects() -> JSONResponse:
    """The memory-color catalog: `[{"code", "label", "description", "dsp", "topology", …}]`."""
    return JSONResponse(catalog(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/room/composition", response_model=CompositionOut)
async def room_composition(res: ResourcesDep) -> Response:
    """The room composer's configuration with the installation profile applied: scenes,
    movements, intensity profiles, dayparts, tone, overlap, scarcity, the quieter-mode
    overlay and room policy. Settings only change with a restart, so clients may cache it
    for a minute; the steward's live switches come from surface/state and `/ws/live`."""
    return Response(composition.encoded(res), media_type="application/json",
                    headers={"Cache-Control": "public, max-age=60"})
