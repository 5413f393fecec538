"""POST /api/v1/live/token, WS /ws/live and WS /ws/ops (docs/live.md)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from rooms.access.operator import is_operator
from rooms.deps import ResourcesDep
from rooms.errors import Forbidden, Throttled, Unauthorized
from rooms.live import devices
from rooms.live.connection import LiveConnection
from rooms.live.guards import ops_network_allowed, origin_allowed
from rooms.live.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_LOCKED,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    OPS_TOPIC,
    OPS_TOPICS,
    TOPICS,
    topics_text,
)
from rooms.live.tokens import Purpose, TokenRefused
from rooms.logging import get_logger
from rooms.openapi import errors
from rooms.resources import Resources

log = get_logger("rooms.live.endpoints")
router = APIRouter(tags=["live"])
NO_STORE = {"Cache-Control": "no-store"}
WS_PATHS: dict[Purpose, str] = {"live": "/ws/live", "ops": "/ws/ops"}


class LiveTokenIn(BaseModel):
    purpose: Literal["live", "ops"] = "live"


class LiveTokenOut(BaseModel):
    token: str
    expires_in_s: int
    ws_url: str


@router.post("/api/v1/live/token", response_model=LiveTokenOut, responses=errors(
    400, 401, 403, 429, e401="`ops_auth_required` (purpose `ops`)",
    e403="`ops_network_forbidden` (purpose `ops`)",
    e429="`ops_login_locked` (purpose `ops`, a bearer secret from a locked client or IP)"))
async def live_token(request: Request, res: ResourcesDep,
                     body: LiveTokenIn | None = None) -> JSONResponse:
    """Mint a short-lived, single-use token that opens /ws/live (or /ws/ops for operators)."""
    purpose: Purpose = body.purpose if body is not None else "live"
    if purpose == "ops":
        if not ops_network_allowed(request, res.settings):
            raise Forbidden("operator access is not allowed from this network",
                            code="ops_network_forbidden")
        if not await is_operator(request, res):  # bearer secret or ops session cookie
            raise Unauthorized("operator sign-in required", code="ops_auth_required")
    token = res.live.tokens.mint(purpose)
    scheme = "wss" if request.url.scheme == "https" else "ws"
    out = LiveTokenOut(token=token, expires_in_s=res.live.tokens.ttl_s,
                       ws_url=f"{scheme}://{request.url.netloc}{WS_PATHS[purpose]}?token={token}")
    return JSONResponse(out.model_dump(), headers=NO_STORE)


async def _refuse(websocket: WebSocket, kind: str, code: int, reason: str) -> None:
    """Accepted first, so that a browser sees the close code and reason, then closed."""
    log.info("live.client.refused", kind=kind, code=code, reason=reason,
             origin=websocket.headers.get("origin"))
    await websocket.close(code, reason)


class LiveSocketsMiddleware:
    """Hands WS /ws/live and /ws/ops straight to their `LiveSocket`, past the rest of the stack.

    A websocket holds every coroutine between the server and its endpoint for as long as it
    is open: the middlewares inside this one (which all pass websockets through), Starlette's
    exception middleware, FastAPI's and the router's frames, ~5 KiB per connection. Only the
    proxy-header rewrite matters to a websocket (`client_ip` for /ws/ops' network rule), so
    `ProxyHeadersMiddleware` sits outside this one. The `LiveSocket` also gets the server's
    own `send`: Starlette's exception wrapper would add one more coroutine per message.
    Other websocket paths go through the app as usual (the routes stay registered).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sockets = {path: LiveSocket(kind) for kind, path in WS_PATHS.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]
            socket = self.sockets.get(path)
            if socket is not None:
                await socket(scope, receive, send)
                return
        await self.app(scope, receive, send)


class LiveSocket:
    """The ASGI app behind WS /ws/live (live events) and WS /ws/ops (operator push).

    Plain ASGI rather than a FastAPI websocket endpoint so that each event goes straight to
    the server's `send` (`LiveSocketsMiddleware`): Starlette's `WebSocket.send` and the
    exception wrapper cost about 1 µs per message, 5-7% of fan-out throughput at 1,000
    clients (benchmarks/live_fanout.py). Accept, receive and close go through `WebSocket`.
    """

    def __init__(self, kind: Purpose) -> None:
        self.kind: Purpose = kind

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        res: Resources = websocket.app.state.rooms
        await websocket.accept()
        refusal = await self._refusal(websocket, res)
        if refusal is not None:
            await _refuse(websocket, self.kind, *refusal)
            return
        ops = self.kind == "ops"
        async with res.live.connection(listener=not ops) as sub:
            if ops:
                sub.join(OPS_TOPIC)
                sub.reply(topics_text("subscribed", (OPS_TOPIC,)))
            log.info("live.client.opened", kind=self.kind)
            await LiveConnection(websocket, sub, send=send, settings=res.settings,
                                 allowed_topics=OPS_TOPICS if ops else TOPICS,
                                 kind=self.kind,
                                 on_device=None if ops else devices.registry(res).seen).run()

    async def _refusal(self, websocket: WebSocket, res: Resources) -> tuple[int, str] | None:
        settings = res.settings
        if not origin_allowed(websocket, settings):
            return CLOSE_FORBIDDEN, "origin not allowed"
        if self.kind == "ops":
            if not ops_network_allowed(websocket, settings):
                return CLOSE_FORBIDDEN, "network not allowed"
            try:
                if await is_operator(websocket, res, "ws"):  # bearer secret or ops cookie
                    return None
            except Throttled:
                return CLOSE_LOCKED, "too many failed sign-ins"
        try:
            await res.live.tokens.redeem(websocket.query_params.get("token"), self.kind)
        except TokenRefused as exc:
            code = CLOSE_TRY_AGAIN if exc.reason == "unavailable" else CLOSE_UNAUTHORIZED
            return code, exc.message
        return None


router.routes.append(WebSocketRoute("/ws/live", LiveSocket("live"), name="live_ws"))
router.routes.append(WebSocketRoute("/ws/ops", LiveSocket("ops"), name="ops_ws"))
