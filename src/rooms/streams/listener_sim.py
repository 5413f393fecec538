"""`rooms listener-sim`: seed 002's simulated listener, which answers a beacon by subscribing.

Store mode (the default). Each round (every LISTENER_POLL_INTERVAL_S) it renews its hold
(a hold not renewed for NOISE_SEEK_SUBSCRIPTION_TTL_S expires); holding nothing, it reads
the last LISTENER_TAIL_N beacons from the seek store (files, or Redis with REDIS_URL), picks
a beacon in a `seeking_*` state (of TARGET_STREAM_ID, if set) whose stream nobody holds, and
holds that stream as LISTENER_ID: one stream at a time, as the seed's loop ("already
subscribed: sleep"). Each stream is judged by its newest beacon, and a stream listed in a
newer commons beacon's `streams` is reached through the commons, not by its older beacon.
When it exits (end of `--rounds`, SIGINT, SIGTERM) it drops every hold, so
the streams it held seek again.

`--ws URL` mode: it opens the server's live websocket like a real client (a token from
`URL/api/v1/live/token`), subscribes to `beacons`, and answers a seeking beacon by
subscribing to the beacon's `stream_topic`; it holds one stream at a time. Leaving is closing the
socket.

`--prefer high|low` (seed 002's bandit idea, kept simple): among the beacons it could answer
it takes the one whose `entropy_profile` is nearest its taste (low < medium < high), ties
going to its short memory (the profiles of the last MEMORY streams it took and liked: its
own taste or medium), then to the newest. Without it: the newest beacon, as the seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from typing import Any, Literal
from urllib.parse import urljoin

from rooms.config import Settings
from rooms.logging import get_logger
from rooms.streams.store import SeekStore, make_seek_store

log = get_logger("rooms.streams.listener_sim")

Prefer = Literal["high", "low"]
RANK = {"low": 0, "medium": 1, "high": 2}
MEMORY = 5


class Taste:
    """A listener's preference by entropy profile, with a short memory of what it liked."""

    def __init__(self, prefer: Prefer | None, memory: int = MEMORY) -> None:
        self.prefer = prefer
        self.liked: deque[str] = deque(maxlen=memory)

    def fit(self, beacon: dict[str, Any]) -> int:
        """2 for its own taste, 1 for medium (or unknown), 0 for the opposite."""
        rank = RANK.get(str(beacon.get("entropy_profile", "")), 1)
        return rank if self.prefer == "high" else 2 - rank

    def score(self, beacon: dict[str, Any]) -> float:
        """0..2.99: the fit, plus under 1 for how often it liked that profile lately (so the
        memory orders beacons of equal fit, never overrides the taste)."""
        if self.prefer is None:
            return 0.0
        profile = str(beacon.get("entropy_profile", ""))
        remembered = sum(p == profile for p in self.liked) / (len(self.liked) + 1)
        return self.fit(beacon) + remembered

    def took(self, beacon: dict[str, Any]) -> None:
        """Remember the profile of a stream it took, if it liked it (fit 1 or 2)."""
        if self.prefer is not None and self.fit(beacon) >= 1:
            self.liked.append(str(beacon.get("entropy_profile", "")))


def pick(beacons: list[dict[str, Any]], subscriptions: dict[str, list[str]],
         target: str | None, taste: Taste | None = None) -> dict[str, Any] | None:
    """The beacon to answer: seeking, of `target` if set, its stream held by nobody; the
    best by `taste`, newest first among equals (None: nothing to answer)."""
    best: dict[str, Any] | None = None
    best_score = -1.0
    seen: set[str] = set()
    for beacon in reversed(beacons):  # newest first; each stream's newest beacon counts
        stream = beacon.get("stream_id")
        if not isinstance(stream, str) or stream in seen:
            continue
        seen.add(stream)
        members = beacon.get("streams")
        if isinstance(members, dict):  # a commons beacon: its members' older beacons are stale
            seen.update(str(m) for m in members)
        if not str(beacon.get("state", "")).startswith("seeking_"):
            continue
        if (target is not None and stream != target) or subscriptions.get(stream):
            continue
        score = taste.score(beacon) if taste is not None else 0.0
        if score > best_score:
            best, best_score = beacon, score
    return best


class Listener:
    """One simulated listener speaking through a `SeekStore`."""

    def __init__(self, listener_id: str, store: SeekStore, *, tail_n: int = 250,
                 target: str | None = None, taste: Taste | None = None) -> None:
        self.id = listener_id
        self.store = store
        self.tail_n = tail_n
        self.target = target
        self.taste = taste or Taste(None)

    async def round(self) -> str | None:
        """One poll: renew what it holds, maybe hold one more stream; the stream it took."""
        if await self.store.renew(self.id):
            return None  # it holds a stream already: one at a time
        subscriptions = await self.store.subscriptions()
        beacon = pick(await self.store.recent_beacons(self.tail_n), subscriptions, self.target,
                      self.taste)
        if beacon is None:
            return None
        stream = str(beacon["stream_id"])
        await self.store.subscribe(stream, self.id)
        self.taste.took(beacon)
        log.info("listener_sim.subscribed", stream=stream, beacon_n=beacon.get("beacon_n"),
                 seq=beacon.get("seq"), listener=self.id,
                 entropy_profile=beacon.get("entropy_profile"))
        return stream

    async def leave(self) -> None:
        await self.store.unsubscribe(self.id)
        log.info("listener_sim.left", listener=self.id)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run(listener: Listener, *, poll_s: float, rounds: int | None = None,
              stop: asyncio.Event | None = None) -> None:
    """Poll every `poll_s` until `rounds` are done or `stop` is set; always leaves."""
    stop = stop or asyncio.Event()
    done = 0
    try:
        while not stop.is_set() and (rounds is None or done < rounds):
            await listener.round()
            done += 1
            if rounds is None or done < rounds:
                await _wait(stop, poll_s)
    finally:
        await asyncio.shield(listener.leave())


async def run_ws(base_url: str, listener_id: str, *, taste: Taste, target: str | None,
                 poll_s: float, rounds: int | None = None,
                 stop: asyncio.Event | None = None) -> None:
    """The websocket listener: `beacons` in, one stream's topic held; ends after `rounds`
    poll periods or on `stop`, closing the socket (which is its leaving)."""
    import httpx
    import websockets

    stop = stop or asyncio.Event()
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(urljoin(base_url.rstrip("/") + "/", "api/v1/live/token"))
        answer.raise_for_status()
        ws_url = str(answer.json()["ws_url"])
    held: str | None = None
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": ["beacons"]}))
        log.info("listener_sim.ws.connected", listener=listener_id, url=base_url)
        loop = asyncio.get_running_loop()
        ends = None if rounds is None else loop.time() + rounds * poll_s
        while not stop.is_set() and (ends is None or loop.time() < ends):
            wait_s = 1.0 if ends is None else max(0.0, min(1.0, ends - loop.time()))
            try:
                raw = await asyncio.wait_for(ws.recv(), wait_s)
            except TimeoutError:
                continue
            message = json.loads(raw)
            if held is not None or message.get("topic") != "beacons":
                continue
            beacon = pick([message], {}, target, taste)
            if beacon is None:
                continue
            held = str(beacon.get("stream_topic") or beacon["stream_id"])
            taste.took(beacon)
            await ws.send(json.dumps({"op": "subscribe", "topics": [held]}))
            log.info("listener_sim.subscribed", stream=beacon["stream_id"], topic=held,
                     listener=listener_id, beacon_n=beacon.get("beacon_n"))
    log.info("listener_sim.left", listener=listener_id, held=held)


async def main(settings: Settings, *, rounds: int | None = None, ws: str | None = None,
               prefer: Prefer | None = None) -> None:
    """`rooms listener-sim`: SIGINT and SIGTERM end it the same way as its last round does
    (its holds dropped, or its socket closed)."""
    import signal
    import uuid

    listener_id = settings.listener_id or f"listener-{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    taste = Taste(prefer)
    target = settings.target_stream_id or None
    if ws is not None:
        await run_ws(ws, listener_id, taste=taste, target=target,
                     poll_s=settings.listener_poll_interval_s, rounds=rounds, stop=stop)
        return
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
    try:
        listener = Listener(listener_id, make_seek_store(settings, redis),
                            tail_n=settings.listener_tail_n, target=target, taste=taste)
        await run(listener, poll_s=settings.listener_poll_interval_s, rounds=rounds, stop=stop)
    finally:
        if redis is not None:
            await redis.aclose()
