"""create_app(): the FastAPI application and its lifespan. Nothing connects at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rooms import __version__
from rooms.assets import asset_dir
from rooms.config import Settings, load_settings
from rooms.derivatives.endpoints import router as derivatives_router
from rooms.errors import RoomsError
from rooms.health.endpoints import router as health_router
from rooms.instance import announce_first_start, ensure_secrets
from rooms.limits import BodyLimitMiddleware
from rooms.live.endpoints import ServerSendMiddleware
from rooms.live.endpoints import router as live_router
from rooms.logging import get_logger
from rooms.metrics import MetricsMiddleware
from rooms.ops.endpoints import router as ops_router
from rooms.ops.push import status_pusher
from rooms.playback.endpoints import router as playback_router
from rooms.playback.media import router as media_router
from rooms.recordings.endpoints import router as recordings_router
from rooms.resources import open_resources
from rooms.web.pages import router as pages_router

log = get_logger("rooms.app")

HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
              413: "too_large", 415: "unsupported_media_type", 422: "invalid_request",
              429: "throttled", 503: "unavailable"}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RoomsError)
    async def rooms_error(_: Request, exc: RoomsError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status,
                            headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else "invalid request"
        return JSONResponse(error_body("invalid_request", message), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

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


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Settings are read (and secrets generated) when the lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        conf = ensure_secrets(settings or load_settings())
        async with open_resources(conf) as res, status_pusher(res):
            app.state.rooms = res
            announce_first_start(conf)
            log.info("rooms.started", database=conf.resolved_database_url.split(":")[0],
                     blobs=res.blobs.name, jobs=res.jobs.backend)
            yield
        log.info("rooms.stopped")

    app = FastAPI(title="rooms", version=__version__, lifespan=lifespan)
    _install_error_handlers(app)
    app.include_router(health_router)
    app.include_router(live_router)
    app.include_router(recordings_router)
    app.include_router(ops_router)
    app.include_router(media_router)
    app.include_router(playback_router)
    app.include_router(derivatives_router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(ServerSendMiddleware)  # outermost of ours: sees the server's own send
    return app
