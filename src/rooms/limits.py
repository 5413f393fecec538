"""A request body ceiling for every route, so no JSON endpoint can be made to read 1 GB."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms.errors import TooLarge

JSON_BODY_LIMIT = 64 * 1024
UPLOAD_PATHS = ("/api/v1/artifacts/audio", "/api/v1/ephemeral/audio")


class BodyLimitMiddleware:
    """Refuse bodies over the limit (413) as soon as they pass it, declared or streamed.

    Upload routes have their own, larger ceiling enforced by their streaming parser.
    """

    def __init__(self, app: ASGIApp, limit: int = JSON_BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UPLOAD_PATHS:
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._refuse(scope, send)
                return
        seen = 0
        refused = False

        async def limited() -> Message:
            # Past the limit we answer 413 ourselves and stop the app from reading further;
            # whatever it then tries to send is dropped by `guarded`.
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit and not refused:
                    refused = True
                    await self._refuse(scope, send)
                    raise TooLarge(f"request body over {self.limit} bytes", code="too_large")
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, guarded)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        from starlette.responses import JSONResponse

        body = {"error": {"code": "too_large", "message": f"request body over {self.limit} bytes"}}
        await JSONResponse(body, status_code=413)(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
