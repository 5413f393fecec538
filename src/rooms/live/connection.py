"""One accepted websocket: the connection's own task reads; a sender task runs only while
there is something to write that could not be written at once.

An idle connection is one task (the server's, reading) and no buffers. Events reach it from
`publish` as ready-made frames where the server's protocol takes them (`LeanWebSockets.
write_frames`: the event is framed once for all clients), else through `_send_now` (see
`Subscriber.send_now`): uvicorn's send is a coroutine that finishes without suspending
while the socket takes data, so it is stepped once by hand. If it does suspend (the peer's
buffer is full) or fails, or events queue while writing them fills the event loop
(`Hub._watch_duty`), or a reply or a close is due, the subscriber `kick`s the connection,
which starts a sender task (`_drain`): it finishes the half-run send as its own
(`_finish`), then writes replies first, then a `lagged` notice if events were dropped, then
events, oldest first (up to FRAME_BATCH of them in one write where frames can be written),
and ends once the mailbox is empty (`Subscriber.park`); while the hub is queueing (past
saturation) it waits for the next event instead, so a busy connection does not start a task
per publish, and ends once the hub writes directly again. There is at most one sender at a
time and direct writes happen only while it is not writing, so order is kept and there is
one writer.

A send that stays pending for LIVE_SEND_TIMEOUT_S closes the client with 4408: the sender
waits on a suspended send under that deadline (no watchdog task; a send that completes at
once costs no timer). Whichever side ends first ends the other (the sender cancels the
reading task, or the reader cancels the sender); the close frame, if any, is sent once, by
the connection's own task, after both are done.
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
FRAME_BATCH = 64  # queued events written to a socket in one write (past saturation)
CLOSE_SEND_TIMEOUT_S = 1.0


class _Closed(Exception):
    """Ends the connection's task group; `code` None means the peer is already gone."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _InFlight:
    """A send coroutine stepped outside the sender, not yet finished.

    `first` is what its first step yielded (a future it waits on) or the exception it raised;
    awaiting this object resumes it inside the sender task, which then owns it.
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


def _writable_flag(send: Send) -> Callable[[], bool] | None:
    """`is_set` of the event uvicorn's websocket `send` waits on before writing, if it has one.

    While it is set, that send writes to the transport and returns without suspending, so
    the sender awaits it plainly (cheaper per message than stepping it by hand); when it is
    clear (the peer's buffers are full) the send is stepped and finished under the deadline.
    """
    flag = getattr(getattr(getattr(send, "__self__", None), "writable", None), "is_set", None)
    return flag if callable(flag) else None


def _frame_writer(send: Send) -> tuple[Callable[[bytes], bool], Callable[[], bool]] | None:
    """`write_frames` and `frames_writable` of the server's websocket protocol, if it has
    them (`rooms.serving.LeanWebSockets`; not uvicorn's own protocols nor a test client)."""
    protocol = getattr(send, "__self__", None)
    write = getattr(protocol, "write_frames", None)
    ready = getattr(protocol, "frames_writable", None)
    return (write, ready) if callable(write) and callable(ready) else None


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


class TokenBucket:
    """`rate` messages/s with bursts of `rate` (at least 1). Past the budget a message is
    "limited" (ignored, the client told once); a further burst's worth is "abuse"."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

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
    __slots__ = ("_allowed", "_bucket", "_clock", "_device", "_ended", "_frames", "_in_flight",
                 "_kind", "_limited", "_on_device", "_reader", "_send", "_sender",
                 "_sending_since", "_settings", "_sub", "_writable", "_ws", "sent")

    def __init__(self, ws: WebSocket, sub: Subscriber, *, send: Send, settings: Settings,
                 allowed_topics: frozenset[str], kind: str,
                 on_device: Callable[[DeviceReport], None] | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._on_device = on_device  # a kiosk or room page reporting itself (live.devices)
        self._device: tuple[str, str] | None = None  # the one device this connection is
        self._ws = ws  # accept, receive and close
        self._send = send  # the server's own ASGI send, for every message after accept
        self._writable = _writable_flag(send)
        self._frames = _frame_writer(send)
        self._sub = sub
        self._settings = settings
        self._allowed = allowed_topics
        self._kind = kind
        self._bucket = TokenBucket(settings.live_messages_per_s, loop.time())
        self._limited = False
        self._sending_since = 0.0  # loop time a pending send started; 0.0 when idle
        self._clock = loop.time
        self._in_flight: _InFlight | None = None
        self._reader: asyncio.Task[Any] | None = None  # the connection's own task, while reading
        self._sender: asyncio.Task[None] | None = None  # only while there is work (`_drain`)
        self._ended: _Closed | None = None  # why the sender ended the connection
        self.sent = 0

    async def run(self) -> None:
        started = time.monotonic()
        sub = self._sub
        task = asyncio.current_task()
        assert task is not None
        closed = _Closed(None)
        self._reader = task
        sub.send_now = self._send_now
        sub.write_frame = self._frames[0] if self._frames is not None else None
        sub.kick = self._kick
        if not sub.park():  # replies already queued (the ops socket's "subscribed")
            self._kick()
        try:
            await self._receive_loop()
        except _Closed as exc:
            closed = exc
        except asyncio.CancelledError:
            if self._ended is None:  # cancelled from outside: not ours to swallow
                raise
            if task.uncancel():  # the sender's cancel, plus another one from outside
                raise
            closed = self._ended
        except Exception as exc:
            log.error("live.client.crashed", kind=self._kind, exc_info=exc)
            closed = _Closed(CLOSE_INTERNAL, "internal error")
        finally:
            self._reader = None
            sub.send_now = sub.write_frame = sub.kick = None  # no direct writes, no sender
            sender = self._sender
            if sender is not None:
                sender.cancel()
                await asyncio.wait((sender,))
        if self._ended is not None and closed.code is None and self._ended.code is not None:
            closed = self._ended  # the sender asked to close just as the reader stopped
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
                 seconds=round(time.monotonic() - started, 1), sent=self.sent + sub.written,
                 dropped=sub.dropped_total + sub.dropped)

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
        except Exception as exc:  # the peer is gone: the sender raises it as its own
            self._in_flight = _InFlight(coro, exc)
            return False
        self._sending_since = self._clock()
        self._in_flight = _InFlight(coro, first)
        return False

    def _kick(self) -> None:
        """Start the sender (the subscriber has work for a parked connection)."""
        if self._sender is None and self._reader is not None:
            self._sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """The sender: write until the mailbox is empty, or end the connection."""
        try:
            await self._drain_loop()
        except _Closed as exc:
            self._end(exc)
        except (WebSocketDisconnect, WebSocketDisconnected, OSError):
            self._end(_Closed(None, "peer gone"))
        except Exception as exc:  # asyncio.CancelledError (the reader ended) passes
            log.error("live.client.crashed", kind=self._kind, exc_info=exc)
            self._end(_Closed(CLOSE_INTERNAL, "internal error"))
        finally:
            self._sender = None
            if self._in_flight is not None:  # a direct send raced the end of the connection
                self._in_flight.coro.close()
                self._in_flight = None

    def _end(self, closed: _Closed) -> None:
        """Stop the reading task, which then closes the connection for `closed`."""
        self._ended = closed
        if self._reader is not None:
            self._reader.cancel()

    async def _drain_loop(self) -> None:
        sub = self._sub
        send = self._send
        writable = self._writable
        write_frames, frames_writable = self._frames or (None, None)
        while True:
            in_flight = self._in_flight
            if in_flight is not None:
                self._in_flight = None
                await self._finish(in_flight)
                continue
            if frames_writable is not None and frames_writable():
                batch = sub.take_frames(FRAME_BATCH)
                if batch is not None:
                    assert write_frames is not None
                    write_frames(batch[0])
                    self.sent += batch[1]
                    if batch[1] == FRAME_BATCH:  # more may be queued: let the others run
                        await asyncio.sleep(0)
                    continue
            message = sub.next_message()
            if message is None:
                if sub.close_request is not None:
                    raise _Closed(*sub.close_request)
                if sub.queueing:  # past saturation: more is coming, wait for it here
                    waiter = sub.waiter()
                    if waiter is not None:
                        await waiter
                    continue
                if sub.park():
                    return
                continue
            if writable is not None and writable():
                await send(message)  # the transport takes it now: this send cannot wait
                self.sent += 1
            else:
                self._send_now(message)  # if it cannot finish now, the loop finishes it next

    async def _finish(self, in_flight: _InFlight) -> None:
        """Finish a suspended send; if it is not done LIVE_SEND_TIMEOUT_S after it started,
        the client is not reading: close it with 4408."""
        limit = self._settings.live_send_timeout_s
        since = self._sending_since or self._clock()
        try:
            async with asyncio.timeout_at(since + limit):
                await in_flight
        except TimeoutError:
            log.warning("live.client.slow", kind=self._kind,
                        blocked_s=round(self._clock() - since, 1),
                        queued_dropped=self._sub.dropped)
            raise _Closed(CLOSE_SLOW, "client not reading") from None
        finally:
            self._sending_since = 0.0
        self.sent += 1
