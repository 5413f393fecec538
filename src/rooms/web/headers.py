"""Security headers on every HTML page rooms serves (kiosk, room, revoke, ops, landing).

- `Content-Security-Policy` without inline script or style: scripts, styles, media and
  websockets from this origin only, no plugins, no `<base>`, and `frame-ancestors 'none'`
  (no page may be framed: clickjacking). `/docs` and `/redoc` keep a policy of their own
  that lets Swagger UI and ReDoc run their inline bootstrap.
- `Permissions-Policy`: the microphone only on `/kiosk/` (its own origin); camera,
  geolocation and the rest never.
- `Referrer-Policy: no-referrer` (a revocation code in a URL never leaks), `X-Frame-Options:
  DENY` for older browsers, `X-Content-Type-Options: nosniff` on every response.

A header a route set itself is kept. Plain ASGI, so streaming bodies pass untouched.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
            "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = ("/docs", "/redoc")
MICROPHONE_PATHS = ("/kiosk/",)
_DENIED = "camera=(), geolocation=(), payment=(), usb=(), display-capture=()"


def permissions_policy(path: str) -> str:
    mic = "(self)" if path.startswith(MICROPHONE_PATHS) else "()"
    return f"microphone={mic}, {_DENIED}"


def page_headers(path: str) -> dict[str, str]:
    """The headers an HTML response at `path` gets."""
    docs = path.startswith(DOCS_PATHS)
    return {"Content-Security-Policy": DOCS_CSP if docs else PAGE_CSP,
            "Permissions-Policy": permissions_policy(path),
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in page_headers(path).items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
