"""The OpenAPI document as the server behaves, and /docs that works with no internet.

FastAPI documents a 422 with its own `HTTPValidationError` on every operation with inputs;
rooms answers a failed validation with 400 and `{"error": {"code", "message"}}` (app.py), so
the document is rewritten once: 422 goes, 400 with the one `Error` model comes in its place.
Routes declare their other error statuses with `errors(...)`, which references the same model.

Swagger UI and ReDoc are served from the assets bundled in the `fastapi-offline` package
(MIT; swagger-ui-dist 5 and redoc 2), mounted at `/docs/assets`: nothing is fetched from a CDN.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

ASSETS = "/docs/assets"
ERROR_REF = "#/components/schemas/Error"
OPERATOR_PATHS = ("/api/v1/operator/", "/api/v1/node/")

DESCRIPTIONS: dict[int, str] = {
    400: "Invalid request: a parameter or the body is malformed (`invalid_request` or a "
         "route-specific code)",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    410: "Gone: the recording or token is no longer usable",
    413: "Request body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    429: "Too many requests; see Retry-After",
    503: "Unavailable (e.g. `intake_paused`, `database_unavailable`)",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    """Every error rooms answers: a snake_case `code` and a human `message`."""

    error: ErrorDetail


class Ok(BaseModel):
    ok: bool


def errors(*statuses: int, **notes: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answers the `Error` model.

    `notes` maps `e<status>` to a description naming the codes, e.g. `e503="intake_paused"`.
    """
    return {status: {"model": Error,
                     "description": notes.get(f"e{status}", DESCRIPTIONS.get(status, "Error"))}
            for status in statuses}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}


def build_document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with 422 replaced by 400 `Error` and its validation schemas gone."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            responses: dict[str, Any] = operation.get("responses", {})
            if responses.pop("422", None) is not None and "400" not in responses:
                responses["400"] = _error_response(DESCRIPTIONS[400])
            if path.startswith(OPERATOR_PATHS):  # a bearer secret or the session cookie
                operation["security"] = [{"opsBearer": []}, {"opsSession": []}]
    schema["components"] = schema.get("components", {})
    schema["components"]["securitySchemes"] = {
        "opsBearer": {"type": "http", "scheme": "bearer",
                      "description": "`Authorization: Bearer <OPS_SHARED_SECRET>`"},
        "opsSession": {"type": "apiKey", "in": "cookie", "name": "rooms_ops",
                       "description": "The session cookie POST /ops/login sets"}}
    components = schema["components"].setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.setdefault("Error", {
        "title": "Error", "type": "object", "required": ["error"],
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}}})
    components.setdefault("ErrorDetail", {
        "title": "ErrorDetail", "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string", "title": "Code"},
                       "message": {"type": "string", "title": "Message"}}})
    return schema


def install(app: FastAPI) -> None:
    """Use the truthful document and serve /docs and /redoc from the bundled assets.

    Create the app with `docs_url=None, redoc_url=None`; this adds both pages back.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}{app.openapi_url}",
                                   title=f"{app.title} - API",
                                   swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{root}{ASSETS}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API",
                              redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
                              with_google_fonts=False)
