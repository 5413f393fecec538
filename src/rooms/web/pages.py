"""Server-rendered pages. The pages call the JSON API; no page embeds a secret."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from rooms.assets import asset_dir
from rooms.recordings import consent

templates = Jinja2Templates(directory=asset_dir("templates"))

router = APIRouter(include_in_schema=False)


@router.get("/revoke/", response_class=HTMLResponse)
async def revoke_page(request: Request, token: str = "") -> HTMLResponse:
    """A participant types their code and sees what was removed."""
    hint = consent.clean_code(token) or ""  # a link's ?token=, shown only if it can be a code
    return templates.TemplateResponse(request, "revoke.html", {"token_hint": hint},
                                      headers={"Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer"})
