"""How `rooms serve` runs uvicorn so that no client can hold it (README "Reliability").

- The fd soft limit is raised to the hard limit at start (`raise_fd_limit`): a 1,024-fd
  default is what 1,100 half-sent requests exhausted.
- Connections are bounded (`SERVER_LIMIT_CONCURRENCY`, clamped below the fd limit): past the
  bound a new connection gets `503` and is closed at once, before it sends anything, so
  held connections can never take the last descriptor. uvicorn's own `limit_concurrency`
  (same number) answers 503 to requests past it on kept-alive connections.
- A request's headers must arrive within `SERVER_HEADER_TIMEOUT_SECONDS`, or the connection
  gets `408` and is closed (uvicorn has no such timeout of its own).
- Request bodies are bounded by `rooms.limits.BodyGuardMiddleware` (idle timeout,
  concurrent uploads); the listen queue by `SERVER_BACKLOG`.
- Websockets use uvicorn's websockets (sans-I/O) protocol with lighter per-connection state
  (`LeanWebSockets`): thousands of idle live clients are mostly this state.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from rooms.config import Settings
from rooms.logging import get_logger

log = get_logger("rooms.serving")

FD_RESERVE = 256  # descriptors kept for the database pool, blobs, spools, Redis, logs
NR_OPEN_DEFAULT = 1 << 20  # Linux's default fs.nr_open, for an unlimited hard limit
REFUSED_503 = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nRetry-After: 1\r\nContent-Length: 75\r\n\r\n"
               b'{"error":{"code":"too_many_connections","message":"try again in a second"}}')
TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
               b"Connection: close\r\nContent-Length: 77\r\n\r\n"
               b'{"error":{"code":"header_timeout","message":"request headers came too slowly"}}')


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NR_OPEN_DEFAULT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open: keep what we have
            log.warning("serve.fd_limit_unchanged", soft=soft, hard=hard, error=str(exc))
    return soft


def connection_limit(settings: Settings, fd_limit: int) -> int:
    """SERVER_LIMIT_CONCURRENCY, but never closer than FD_RESERVE to the fd limit."""
    return max(16, min(settings.server_limit_concurrency, fd_limit - FD_RESERVE))


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a hard connection bound and a header timeout."""

    header_timeout_s: float = 10.0
    max_connections: int | None = None
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.max_connections is not None and len(self.connections) > self.max_connections:
            transport.write(REFUSED_503)
            transport.close()
            return
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # the next request on a kept-alive connection
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_408)
            self.transport.close()


class _Inbox:
    """What uvicorn's websocket protocol needs of its `asyncio.Queue` (`put_nowait`, `get`,
    `empty`) for its one reader, without the queue's three deques (~2.3 KiB per socket).

    A second concurrent `get` is a bug in the app (an ASGI websocket has one reader).
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] | None = None  # made on the first message, dropped when read
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = [item]
        else:
            self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("a websocket has one reader")
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        item = self._items.pop(0)
        if not self._items:
            self._items = None
        return item


class _Gate:
    """What uvicorn's websocket protocol needs of its `writable` `asyncio.Event` (`set`,
    `clear`, `is_set`, `wait`), with no deque until a send has to wait (~0.8 KiB per socket).
    `wait` on an open gate returns without suspending, as the Event's does."""

    __slots__ = ("_open", "_waiters")

    def __init__(self) -> None:
        self._open = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._open

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSockets(WebSocketsSansIOProtocol):
    """uvicorn's websockets (sans-I/O) protocol, lighter per connection.

    Its receive queue and write gate are replaced by `_Inbox` and `_Gate` (same behaviour
    for one reader), and the handshake's request and response, with their headers, are let
    go once the handshake is done (the ASGI scope keeps its own copy of the headers).
    ~5 KiB less per open websocket (benchmarks/live_fanout.py, RSS/conn).

    It also takes ready-made frames (`write_frames`): the live hub frames an event once and
    writes those bytes to every client, where uvicorn's `send` would encode and frame the
    text again for each (at saturation, server CPU per delivered message went from 1.21x to
    0.48x the bare `websockets` server's; README "Live fan-out: throughput and latency").
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]
        self._gate = _Gate()
        self.writable = self._gate  # type: ignore[assignment]

    def frames_writable(self) -> bool:
        """True if `write_frames` would write now: the websocket is open, no extension
        (permessage-deflate) was negotiated, no close was sent, and the transport is neither
        closing nor paused (its buffer under the high-water mark)."""
        return (self._gate._open and self.conn.state is State.OPEN
                and not self.close_sent and not self.conn.extensions
                and not self.transport.is_closing())

    def write_frames(self, data: bytes) -> bool:
        """Write whole serialized server frames (`rooms.live.protocol.text_frame`) if
        `frames_writable()`; True if written, False if nothing was (then use `send`)."""
        if not self.frames_writable():
            return False
        self.transport.write(data)
        return True

    def start_keepalive(self) -> None:
        super().start_keepalive()  # called once, right after the accept is written
        self.request = self.response = None  # type: ignore[assignment]


def uvicorn_options(settings: Settings, fd_limit: int) -> dict[str, Any]:
    """uvicorn.run keyword arguments for these limits."""
    limit = connection_limit(settings, fd_limit)
    protocol = type("RoomsHttp", (GuardedHttpTools,),
                    {"header_timeout_s": float(settings.server_header_timeout_seconds),
                     "max_connections": limit})
    log.info("serve.limits", fd_limit=fd_limit, connections=limit,
             backlog=settings.server_backlog,
             header_timeout_s=settings.server_header_timeout_seconds)
    # uvicorn answers 503 at `>= limit_concurrency`; the protocol above refuses past `limit`
    return {"http": protocol, "ws": LeanWebSockets, "limit_concurrency": limit + 1,
            "backlog": settings.server_backlog}
