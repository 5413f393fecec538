"""One consumer's mailbox: a bounded queue of events from every topic it joined.

The hub only ever calls `put`, which never waits: when the queue is full the oldest event is
dropped and counted, and the consumer hears about it once, as `{"op": "lagged"}`, the next
time it drains. Replies to the consumer's own requests travel in a separate queue that is
never dropped from and always goes first.

A consumer that can write without waiting (a websocket whose socket buffer has room) sets
`send_now`: while it is idle, with nothing queued, `put` hands it the event directly, so
an event reaches an idle client without a task wake-up, as in a bare broadcast server. A
websocket that can also take ready-made frames sets `write_frame`, which `put` tries first:
the event's frame (`Event.frame`, built once per event) goes to the socket as is, with no
per-client framing; a queue is drained the same way, many frames to one write
(`take_frames`).

A consumer idles in one of two ways: an in-process one awaits `waiter()` (a future); a
websocket, which has no task of its own between sends, calls `park()` and is `kick`ed (a
plain call: it starts a sender task) once there is something to take. Both queues are
created on first use, so an idle subscriber that never had to queue holds no buffers (a
deque's first block is ~0.6 KiB); the replies queue is dropped again whenever it empties
(replies are rare), the event queue is kept (past saturation it refills on every publish).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from rooms.live.protocol import lagged_text, text_frame

SendNow = Callable[[dict[str, Any]], bool]
"""Try to send one ASGI message at once. True: done. False: the consumer's task must finish
it (it is in flight, or it failed), so the consumer is woken."""

WriteFrame = Callable[[bytes], bool]
"""Write serialized websocket frames if the socket takes them now. True: written. False:
nothing was written (paused, closing), and `send_now` decides."""


class Event:
    """A published event, serialized once: `text` is what every subscriber is sent,
    `message` the one ASGI message that carries it (uvicorn does not modify it), and `frame`
    the websocket frame of `text` (bytes, for `write_frame`)."""

    __slots__ = ("frame", "message", "text", "topic")

    def __init__(self, topic: str, text: str) -> None:
        self.topic = topic
        self.text = text
        self.message: dict[str, Any] = {"type": "websocket.send", "text": text}
        self.frame = text_frame(text)

    def data(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.text)
        return value


class Subscriber:
    """A bounded, drop-oldest mailbox. Made by `Hub.connection()`; joins topics through it."""

    __slots__ = ("_events", "_join", "_leave", "_loop", "_maxsize", "_parked", "_queueing",
                 "_replies", "_waiter", "close_request", "counted", "dropped", "dropped_total",
                 "kick", "listener", "send_now", "topics", "write_frame", "written")

    def __init__(self, *, maxsize: int, listener: bool, join: Callable[[Subscriber, str], None],
                 leave: Callable[[Subscriber, str], None], counted: bool = True) -> None:
        self._maxsize = maxsize
        self._events: deque[Event] | None = None  # made on first use
        self._replies: deque[str] | None = None
        self._loop = asyncio.get_running_loop()
        self._waiter: asyncio.Future[None] | None = None
        self._parked = False  # the consumer called park(): kick it when there is work
        self._queueing = False  # the last event was queued because the hub is behind
        self._join = join
        self._leave = leave
        self.topics: set[str] = set()
        self.listener = listener
        self.counted = counted  # in the per-topic counts (sockets are; in-process ones not)
        self.dropped = 0  # dropped since the consumer last heard about it
        self.dropped_total = 0
        self.close_request: tuple[int, str] | None = None
        self.send_now: SendNow | None = None
        self.write_frame: WriteFrame | None = None  # tried before send_now (see above)
        self.written = 0  # events that went through write_frame from put
        self.kick: Callable[[], None] | None = None  # wakes a parked consumer

    # --- membership ----------------------------------------------------------------
    def join(self, *topics: str) -> None:
        for topic in topics:
            if topic not in self.topics:
                self._join(self, topic)

    def leave(self, *topics: str) -> None:
        """Leave topics; their events still queued are discarded (they were not wanted)."""
        gone = {t for t in topics if t in self.topics}
        for topic in gone:
            self._leave(self, topic)
        events = self._events
        if gone and events:
            kept = [e for e in events if e.topic not in gone]
            events.clear()
            events.extend(kept)

    # --- producer side (never waits) ----------------------------------------------
    def put(self, event: Event, direct: bool = True) -> None:
        """Queue `event` (never waits); `direct`: hand it to `send_now` if idle (see above)."""
        if direct and (self._parked or self._waiter is not None) and self.send_now is not None:
            # The consumer is idle with nothing queued, so this event is next in line.
            write = self.write_frame
            if write is not None and write(event.frame):
                self.written += 1
            elif not self.send_now(event.message):
                self._wake()
                return
            if self._queueing:  # the hub caught up: a sender lingering for events may end
                self._queueing = False
                self._wake()
            return
        self._queueing = not direct
        events = self._events
        if events is None:
            events = self._events = deque(maxlen=self._maxsize)
        elif len(events) == events.maxlen:
            self.dropped += 1  # append() below pushes out the oldest
        events.append(event)
        self._wake()

    def reply(self, text: str) -> None:
        if self._replies is None:
            self._replies = deque()
        self._replies.append(text)
        self._wake()

    def request_close(self, code: int, reason: str) -> None:
        """Ask the consumer to close after the replies already queued (the first ask wins)."""
        if self.close_request is None:
            self.close_request = (code, reason)
        self._wake()

    @property
    def pending_replies(self) -> int:
        return len(self._replies) if self._replies is not None else 0

    def _wake(self) -> None:
        if self._parked:
            self._parked = False
            if self.kick is not None:
                self.kick()
            return
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- consumer side -------------------------------------------------------------
    def next_message(self) -> dict[str, Any] | None:
        """The next ASGI message to send, or None when empty or closing (replies first)."""
        replies = self._replies
        if replies:
            return {"type": "websocket.send", "text": replies.popleft()}
        if self.close_request is not None:
            return None
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            self.dropped_total += dropped
            return {"type": "websocket.send", "text": lagged_text(dropped)}
        events = self._events
        if events:
            return events.popleft().message
        return None

    def take_frames(self, limit: int) -> tuple[bytes, int] | None:
        """The frames of up to `limit` queued events, oldest first, joined for one write, and
        how many; None when something else is next (a reply, a `lagged` notice, a close) or
        nothing is queued. The events are taken: the caller must write the bytes."""
        events = self._events
        if not events or self._replies or self.dropped or self.close_request is not None:
            return None
        count = min(limit, len(events))
        if count == 1:
            return events.popleft().frame, 1
        popleft = events.popleft
        return b"".join([popleft().frame for _ in range(count)]), count

    def next_text(self) -> str | None:
        message = self.next_message()
        return None if message is None else str(message["text"])

    def _idle(self) -> bool:
        """True if there is nothing to take; then the empty replies queue is dropped."""
        if self._replies or self._events or self.dropped or self.close_request is not None:
            return False
        self._replies = None
        return True

    def waiter(self) -> asyncio.Future[None] | None:
        """None if there is something to take now, else a future done when there is.

        A bare future, not a coroutine: an idle subscriber holds one object while it waits.
        """
        if not self._idle():
            return None
        waiter = self._loop.create_future()
        self._waiter = waiter
        return waiter

    @property
    def queueing(self) -> bool:
        """True while events are being queued because the hub is behind (past saturation): a
        websocket's sender then waits for the next one (`waiter`) rather than ending, so that
        a busy connection does not start a task per publish."""
        return self._queueing

    def park(self) -> bool:
        """For a consumer without a task of its own: True if there is nothing to take now,
        and then `kick()` is called (once) when there is. False: take what is there first."""
        if not self._idle():
            return False
        self._parked = True
        return True

    async def events(self) -> AsyncIterator[Event]:
        """For in-process consumers: every event, until the hub closes (drops are counted)."""
        while True:
            if self._events:
                yield self._events.popleft()
                continue
            if self.close_request is not None:
                return
            if self.dropped:  # nobody to tell: just count it
                self.dropped_total += self.dropped
                self.dropped = 0
            waiter = self.waiter()
            if waiter is not None:
                await waiter
