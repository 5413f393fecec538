"""Server-rendered pages. The pages call the JSON API; no page embeds a secret."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from rooms import steward
from rooms.assets import asset_dir
from rooms.deps import ResourcesDep
from rooms.effects import catalog
from rooms.ops.artifacts import LIFECYCLE
from rooms.playback import composition
from rooms.recordings import consent
from rooms.web import kiosk, ops

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates


@functools.cache
def templates() -> Jinja2Templates:
    """The page templates, built on the first page: jinja2 (~1.5 MiB) stays out of a server
    that only answers the API (README "Idle memory")."""
    from fastapi.templating import Jinja2Templates

    return Jinja2Templates(directory=asset_dir("templates"))

router = APIRouter(include_in_schema=False)


@router.get("/revoke/", response_class=HTMLResponse)
async def revoke_page(request: Request, token: str = "") -> HTMLResponse:
    """A participant types their code and sees what was removed."""
    hint = consent.clean_code(token) or ""  # a link's ?token=, shown only if it can be a code
    return templates().TemplateResponse(request, "revoke.html", {"token_hint": hint},
                                      headers={"Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer"})


@router.get("/kiosk/", response_class=HTMLResponse)
async def kiosk_page(request: Request, res: ResourcesDep) -> HTMLResponse:
    """The recording station: record, review, choose consent, get a receipt."""
    posture = await steward.posture(res)
    revoke_url = str(request.url_for("revoke_page"))
    return templates().TemplateResponse(
        request, "kiosk.html",
        {"config": kiosk.page_config(posture, res.settings, revoke_url),
         "revoke_url": revoke_url, "qr": kiosk.qr_svg(revoke_url),
         "lang": kiosk.kiosk_view(posture, res.settings)["language"]},
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.get("/room/", response_class=HTMLResponse)
async def room_page(request: Request, res: ResourcesDep) -> HTMLResponse:
    """The listening surface: the composed loop (static/room/, docs/room.md). The page
    carries the composition (the object of GET /api/v1/room/composition) and the
    memory-color catalog; the steward's switches come live from surface/state and /ws/live."""
    config = {"composition": composition.build(res.settings), "effects": catalog()}
    return templates().TemplateResponse(request, "room.html", {"config": config},
                                      headers={"Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer"})


@router.get("/", response_class=HTMLResponse)
async def landing_page(request: Request) -> HTMLResponse:
    """Where to go: the kiosk, the room, the steward's dashboard, removing a take."""
    return templates().TemplateResponse(request, "index.html", {})


@router.get("/ops/", response_class=HTMLResponse)
async def ops_page(request: Request, res: ResourcesDep) -> HTMLResponse:
    """The steward's dashboard once signed in; the sign-in form (and any lockout) before."""
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "same-origin"}
    if await ops.signed_in(request, res):
        return templates().TemplateResponse(
            request, "ops.html", {"config": ops.dashboard_config(res.settings, LIFECYCLE)},
            headers=headers)
    view = ops.login_view(request, res.settings, await ops.locked_for_s(request, res))
    return templates().TemplateResponse(request, "ops_login.html", view, headers=headers)
