"""One accepted websocket: a receive loop, a send loop and a send watchdog in one TaskGroup.

The send loop is the only writer. It drains the connection's mailbox (replies first, then a
`lagged` notice if events were dropped, then events, oldest first). Whichever loop ends
first raises `_Closed`, which cancels the others; the close frame, if any, is sent once,
after the group is done.

While the send loop is parked on an empty mailbox, the hub may write an event straight away
through `_send_now` (see `Subscriber.send_now`): uvicorn's send is a coroutine that finishes
without suspending while the socket takes data, so it is stepped once by hand. If it does
suspend (the peer's buffer is full) or fails, the half-run coroutine is handed to the send
loop, which finishes it as its own (`_finish`) before anything else; events that arrive
meanwhile queue as usual, so order is kept and there is still one writer at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, NoReturn

from starlette.types import Send
from starlette.websockets import (
    WebSocket,
    WebSocketDisconnect,
    WebSocketDisconnected,
    WebSocketState,
)

from rooms.config import Settings
from rooms.live.devices import DeviceReport
from rooms.live.protocol import (
    CLOSE_INTERNAL,
    CLOSE_POLICY,
    CLOSE_SLOW,
    CLOSE_TOO_BIG,
    DEVICE_SEEN_TEXT,
    PONG_TEXT,
    ProtocolError,
    error_text,
    parse_request,
    topics_text,
)
from rooms.live.subscriber import Subscriber
from rooms.logging import get_logger

log = get_logger("rooms.live.connection")

MAX_PENDING_REPLIES = 64
CLOSE_SEND_TIMEOUT_S = 1.0


class _Closed(Exception):
    """Ends the connection's task group; `code` None means the peer is already gone."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _InFlight:
    """A send coroutine stepped outside the send loop, not yet finished.

    `first` is what its first step yielded (a future it waits on) or the exception it raised;
    awaiting this object resumes it inside the send loop's task, which then owns it.
    """

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self.coro, self.first
        if isinstance(value, BaseException):
            raise value
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # e.g. the task is cancelled: pass it on
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


def abort_transport(send: Send) -> bool:
    """Drop the TCP connection under an ASGI websocket at once (RST, queued bytes freed).

    ASGI has no such message; the server's own send is a method of its protocol object,
    which holds the transport (uvicorn's websocket implementations all do). A plain close
    of a socket whose peer reads nothing leaves the kernel holding it (FIN_WAIT1, with its
    queue) for minutes, so linger is set to 0 first: the close is a reset. True when done.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return False  # (a closing transport still holds its queued bytes: abort it too)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


class TokenBucket:
    """`rate` messages/s with bursts of `rate` (at least 1). Past the budget a message is
    "limited" (ignored, the client told once); a further burst's worth is "abuse"."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self.tokens = self.burst
        self.stamp = now

    def take(self, now: float) -> str:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= 1.0
        if self.tokens >= 0:
            return "ok"
        return "limited" if self.tokens >= -self.burst else "abuse"


class LiveConnection:
    def __init__(self, ws: WebSocket, sub: Subscriber, *, send: Send, settings: Settings,
                 allowed_topics: frozenset[str], kind: str,
                 on_device: Callable[[DeviceReport], None] | None = None) -> None:
        self._on_device = on_device  # a kiosk or room page reporting itself (live.devices)
        self._device: tuple[str, str] | None = None  # the one device this connection is
        self._ws = ws  # accept, receive and close
        self._send = send  # the server's own ASGI send, for every message after accept
        self._sub = sub
        self._settings = settings
        self._allowed = allowed_topics
        self._kind = kind
        self._bucket = TokenBucket(settings.live_messages_per_s,
                                   asyncio.get_running_loop().time())
        self._limited = False
        self._sending_since = 0.0  # loop time a pending send started; 0.0 when idle
        self._clock = asyncio.get_running_loop().time
        self._in_flight: _InFlight | None = None
        self.sent = 0

    async def run(self) -> None:
        started = time.monotonic()
        closed = _Closed(None)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._receive_loop())
                tg.create_task(self._send_loop())
                tg.create_task(self._watch_sends())
        except* _Closed as group:
            first = group.exceptions[0]
            assert isinstance(first, _Closed)
            closed = first
        except* Exception as group:
            log.error("live.client.crashed", kind=self._kind, exc_info=group.exceptions[0])
            closed = _Closed(CLOSE_INTERNAL, "internal error")
        stuck = closed.code == CLOSE_SLOW
        if closed.code is not None and self._ws.application_state == WebSocketState.CONNECTED:
            try:
                async with asyncio.timeout(CLOSE_SEND_TIMEOUT_S):  # a stuck peer may not drain
                    await self._ws.close(closed.code, closed.reason)
            except TimeoutError:
                stuck = True
            except Exception:  # noqa: S110 - the peer is gone already: nothing to close
                pass
        if stuck:  # a peer that reads nothing would hold the socket and its queued bytes
            abort_transport(self._send)
        log.info("live.client.closed", kind=self._kind, code=closed.code, reason=closed.reason,
                 seconds=round(time.monotonic() - started, 1), sent=self.sent,
                 dropped=self._sub.dropped_total + self._sub.dropped)

    # --- receiving ---------------------------------------------------------------------
    async def _receive_loop(self) -> NoReturn:
        loop = asyncio.get_running_loop()
        limit = self._settings.live_max_message_bytes
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                raise _Closed(None, f"peer closed ({message.get('code')})")
            if self._sub.close_request is not None:
                continue  # closing: read only to notice the peer's goodbye
            text = message.get("text")
            raw = text.encode() if text is not None else message.get("bytes") or b""
            if len(raw) > limit:
                self._sub.reply(error_text("message_too_big",
                                           f"messages are limited to {limit} bytes"))
                self._sub.request_close(CLOSE_TOO_BIG, "message too big")
                continue
            verdict = self._bucket.take(loop.time())
            if verdict != "ok":
                self._over_budget(verdict)
                continue
            self._limited = False
            self._handle(raw)

    def _over_budget(self, verdict: str) -> None:
        if verdict == "abuse":
            self._sub.request_close(CLOSE_POLICY, "rate limit exceeded")
        elif not self._limited:
            self._limited = True
            rate = self._settings.live_messages_per_s
            self._sub.reply(error_text("rate_limited",
                                       f"more than {rate:g} messages/s; this one was ignored"))

    def _handle(self, raw: bytes) -> None:
        sub = self._sub
        if sub.pending_replies >= MAX_PENDING_REPLIES:  # asks, but does not read the answers
            sub.request_close(CLOSE_POLICY, "replies not read")
            return
        try:
            request = parse_request(raw.decode(), self._allowed)
        except UnicodeDecodeError:
            sub.reply(error_text("bad_json", "message is not UTF-8 JSON"))
            return
        except ProtocolError as exc:
            sub.reply(error_text(exc.code, exc.message))
            return
        if request.op == "ping":
            sub.reply(PONG_TEXT)
        elif request.op == "device":
            device = request.device
            if self._on_device is None or device is None:
                sub.reply(error_text("unknown_op", "devices report on /ws/live"))
            elif self._device not in (None, (device.kind, device.name)):
                sub.reply(error_text("bad_device", "one connection reports one device"))
            else:
                self._device = (device.kind, device.name)
                self._on_device(device)
                sub.reply(DEVICE_SEEN_TEXT)
        elif request.op == "subscribe":
            sub.join(*request.topics)
            sub.reply(topics_text("subscribed", request.topics))
        else:
            sub.leave(*request.topics)
            sub.reply(topics_text("unsubscribed", request.topics))

    # --- sending -----------------------------------------------------------------------
    def _send_now(self, message: dict[str, Any]) -> bool:
        """Send `message` at once if the socket takes it without waiting (see module doc)."""
        sending = self._send(message)
        coro = sending if isinstance(sending, Coroutine) else _awaited(sending)
        try:
            first = coro.send(None)
        except StopIteration:
            self.sent += 1
            return True
        except Exception as exc:  # the peer is gone: the send loop raises it as its own
            self._in_flight = _InFlight(coro, exc)
            return False
        self._sending_since = self._clock()
        self._in_flight = _InFlight(coro, first)
        return False

    async def _send_loop(self) -> NoReturn:
        sub = self._sub
        send = self._send
        clock = self._clock
        sub.send_now = self._send_now
        try:
            while True:
                if self._in_flight is not None:
                    in_flight, self._in_flight = self._in_flight, None
                    await in_flight
                    self._sending_since = 0.0
                    self.sent += 1
                    continue
                message = sub.next_message()
                if message is None:
                    if sub.close_request is not None:
                        raise _Closed(*sub.close_request)
                    waiter = sub.waiter()
                    if waiter is not None:
                        await waiter
                    continue
                self._sending_since = clock()
                await send(message)
                self._sending_since = 0.0
                self.sent += 1
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            raise _Closed(None, "peer gone") from None
        finally:
            sub.send_now = None
            if self._in_flight is not None:  # a direct send raced the end of the connection
                self._in_flight.coro.close()
                self._in_flight = None

    async def _watch_sends(self) -> NoReturn:
        """Close a client whose pending send has not completed for LIVE_SEND_TIMEOUT_S.

        Wakes once per timeout, not per message: the send loop only stamps a float.
        """
        loop = asyncio.get_running_loop()
        limit = self._settings.live_send_timeout_s
        while True:
            since = self._sending_since
            now = loop.time()
            if since and now - since >= limit:
                log.warning("live.client.slow", kind=self._kind, blocked_s=round(now - since, 1),
                            queued_dropped=self._sub.dropped)
                raise _Closed(CLOSE_SLOW, "client not reading")
            await asyncio.sleep(since + limit - now if since else limit)
