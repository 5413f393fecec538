"""create_app(): the FastAPI application and its lifespan. Nothing connects at import."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Route, compile_path
from starlette.types import Scope

from rooms import __version__
from rooms.assets import asset_dir
from rooms.config import Settings, load_settings
from rooms.derivatives.endpoints import router as derivatives_router
from rooms.errors import RoomsError
from rooms.health.endpoints import router as health_router
from rooms.instance import announce_first_start, ensure_secrets
from rooms.kit.clients import Network, ProxyHeadersMiddleware, parse_networks
from rooms.limits import BodyGuardMiddleware, BodyLimitMiddleware
from rooms.live.endpoints import LiveSocketsMiddleware
from rooms.live.endpoints import router as live_router
from rooms.logging import get_logger
from rooms.metrics import MetricsMiddleware, loop_lag_monitor
from rooms.openapi import install as install_docs
from rooms.ops.alerts import alerting
from rooms.ops.endpoints import router as ops_router
from rooms.ops.push import status_pusher
from rooms.ops.schedule import hours_keeper
from rooms.playback.endpoints import router as playback_router
from rooms.playback.media import router as media_router
from rooms.recordings.endpoints import router as recordings_router
from rooms.recordings.receipt import router as receipt_router
from rooms.resources import open_resources
from rooms.web.headers import SecurityHeadersMiddleware
from rooms.web.pages import router as pages_router

log = get_logger("rooms.app")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
              413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
              429: "throttled", 503: "unavailable"}


MAX_MESSAGE = 500


def printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` with control and other unprintable characters escaped (`\\x00`), cut to `limit`.

    Error messages may quote what a client sent; they never carry its raw control bytes
    (a terminal escape, a NUL, a line break forged into a log line).
    """
    if text.isprintable():
        return text[:limit]
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)[:limit]


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": printable(message)}}


MethodTable = list[tuple[re.Pattern[str], frozenset[str]]]


def method_table(routes: Iterable[BaseRoute]) -> MethodTable:
    """(path regex, methods) of every HTTP route, for `Allow`."""
    return [(compile_path(route.path)[0], frozenset(route.methods))
            for route in routes if isinstance(route, Route) and route.methods]


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (GET and POST where both exist), for Allow.

    Starlette's own 405 names only the first route that matched the path. A path no route
    matches is under a static mount (/static, /docs/assets), which serves GET and HEAD.
    """
    table: MethodTable = getattr(request.app.state, "method_table", [])
    methods: set[str] = set()
    for pattern, route_methods in table:
        if pattern.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted((methods or {"GET", "HEAD"}) | {"OPTIONS"}))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RoomsError)
    async def rooms_error(_: Request, exc: RoomsError) -> JSONResponse:
        body = error_body(exc.code, exc.message)
        body["error"].update(exc.details)
        return JSONResponse(body, status_code=exc.status,
                            headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return JSONResponse(error_body("invalid_request", message), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
            if request.method == "OPTIONS":  # a real answer to OPTIONS: what this path takes
                return Response(status_code=204, headers=headers)
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=headers)

    @app.exception_handler(DBAPIError)
    async def database_down(request: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("http.database_error", path=request.url.path, error=type(exc).__name__)
        return JSONResponse(error_body("database_unavailable",
                                       "the database did not answer; nothing was changed"),
                            status_code=503)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unhandled", path=request.url.path, error=type(exc).__name__,
                  exc_info=exc)
        return JSONResponse(error_body("internal_error", "something went wrong on our side"),
                            status_code=500)


def _trusted_proxies(scope: Scope) -> tuple[Network, ...]:
    """TRUSTED_PROXIES of the running app (loopback before the lifespan has run)."""
    res = getattr(scope["app"].state, "rooms", None) if "app" in scope else None
    if res is None:
        return parse_networks("TRUSTED_PROXIES", Settings.model_fields["trusted_proxies"].default)
    settings: Settings = res.settings
    return settings.trusted_proxy_networks()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Settings are read (and secrets generated) when the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conf = ensure_secrets(settings or load_settings())
        async with (open_resources(conf) as res, status_pusher(res), hours_keeper(res),
                    alerting(res), loop_lag_monitor(res.metrics)):
            app.state.rooms = res
            announce_first_start(conf)
            log.info("rooms.started", database=conf.resolved_database_url.split(":")[0],
                     blobs=res.blobs.name, jobs=res.jobs.backend)
            yield
        log.info("rooms.stopped")

    app = FastAPI(title="rooms", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    _install_error_handlers(app)
    install_docs(app)
    routers = (health_router, live_router, recordings_router, ops_router, media_router,
               playback_router, derivatives_router, pages_router, receipt_router)
    for router in routers:
        app.include_router(router)
    app.state.method_table = method_table(
        [*app.router.routes, *(route for router in routers for route in router.routes)])
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    app.add_middleware(SecurityHeadersMiddleware)  # CSP and friends on rooms' own pages
    app.add_middleware(BodyGuardMiddleware)  # body idle timeout, concurrent uploads
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(LiveSocketsMiddleware)  # /ws/live, /ws/ops: straight to their endpoint
    app.add_middleware(ProxyHeadersMiddleware, proxies=_trusted_proxies)  # client_ip's rule
    return app
