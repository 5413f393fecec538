"""What a request body may cost: a size ceiling for every route (so no JSON endpoint can be
made to read 1 GB), an idle timeout for every body and a bound on concurrent uploads (so no
slow client can hold the server; README "Reliability")."""

from __future__ import annotations

import asyncio
import contextlib
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rooms.errors import TooLarge
from rooms.logging import get_logger

log = get_logger("rooms.limits")

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


class _BodyIdle(Exception):
    """No body bytes for SERVER_BODY_IDLE_TIMEOUT_SECONDS (raised into the app's receive)."""


class BodyGuardMiddleware:
    """A body that stops arriving, and uploads past the bound, do not hold the server.

    - Every request body: no message for SERVER_BODY_IDLE_TIMEOUT_SECONDS while the body is
      incomplete -> 408 (`upload_timeout` on the upload routes, `request_timeout` elsewhere)
      with `Connection: close`; the app's own reading fails, so its spool file is removed.
      Once the body is complete, `receive` is passed through untimed (a streaming response
      waits on it for the client's disconnect).
    - Upload routes: more than INGEST_MAX_CONCURRENT_UPLOADS at once in this process -> 503
      `uploads_busy` with Retry-After, before a byte of the body is read.
    Settings are read per request from the running app (tests change them in place).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.uploads = 0  # upload requests in this process right now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        res = getattr(scope["app"].state, "rooms", None) if "app" in scope else None
        if scope["type"] != "http" or res is None:
            await self.app(scope, receive, send)
            return
        settings = res.settings
        upload = scope["path"] in UPLOAD_PATHS and scope["method"] == "POST"
        if upload and self.uploads >= settings.ingest_max_concurrent_uploads:
            log.warning("http.uploads_busy", uploads=self.uploads)
            # read the body into nothing first (no spool, no parse): a client still sending
            # when the server answers and closes gets a reset instead of the answer
            await _drain(receive, settings.server_body_idle_timeout_seconds,
                         settings.ingest_max_upload_bytes + 64 * 1024)
            await _answer(send, 503, "uploads_busy",
                          "too many recordings arriving at once; try again in a few seconds",
                          retry_after=5)
            return
        idle_s = settings.server_body_idle_timeout_seconds
        body_done = False
        timed_out = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done:
                return await receive()
            try:
                async with asyncio.timeout(idle_s):
                    message = await receive()
            except TimeoutError:
                timed_out = True
                raise _BodyIdle from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the app's answer to its failed read: ours (408) goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        if upload:
            self.uploads += 1
        try:
            await self.app(scope, timed_receive, guarded_send)
        except Exception:
            if not timed_out:
                raise
        finally:
            if upload:
                self.uploads -= 1
        if timed_out and not started:
            code = "upload_timeout" if upload else "request_timeout"
            log.warning("http.body_timeout", path=scope["path"], idle_s=idle_s, code=code)
            await _answer(send, 408, code, f"no request body arrived for {idle_s:g} s")


async def _answer(send: Send, status: int, code: str, message: str, *,
                  retry_after: int | None = None) -> None:
    """An error body with `Connection: close`: the client is not worth keeping."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
               (b"content-length", str(len(body)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, idle_s: float, cap: int) -> None:
    """Receive and drop a request body: until its end, `cap` bytes, or `idle_s` of silence."""
    seen = 0
    with contextlib.suppress(TimeoutError):
        while seen <= cap:
            async with asyncio.timeout(idle_s):
                message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message.get("body", b""))
            if not message.get("more_body", False):
                return
