"""Where beacons and subscriptions live: files (the embedded default) or Redis (REDIS_URL).

One small interface, `SeekStore`, used by the streams (which beacon and read who holds them)
and by `rooms listener-sim` (which reads beacons and subscribes):

    await store.add_beacon(beacon)              append one beacon
    await store.recent_beacons(n)               the last n, oldest first
    await store.holders(stream_id)              listeners holding it now (expired ones left out)
    await store.subscriptions()                 stream id -> listeners, expired ones left out
    await store.subscribe(stream_id, listener)  hold it for `ttl_s` from now
    await store.renew(listener)                 every hold of `listener`: `ttl_s` from now
    await store.unsubscribe(listener)           drop every hold of `listener` (or one stream's)

A subscription not renewed for `ttl_s` (NOISE_SEEK_SUBSCRIPTION_TTL_S, 60) expires, so a
listener that died without saying so never keeps a stream from seeking.

`FileSeekStore` keeps seed 002's files (NOISE_SEEK_BEACON_PATH, NOISE_SEEK_SUBSCRIPTIONS_PATH).
The subscriptions file stays in the seed's shape, `{"noise_metadata": ["listener-1"]}`, with
one added key, `"_expires_at": {stream: {listener: epoch seconds}}`; a listed listener
without an expiry (a hand edit, a seed-era file) expires `ttl_s` after the file's mtime.
Streams read it through a cache keyed on the file's mtime, size and inode: the file is
parsed again only when it changed. Writers hold an flock on `<file>.lock` around their
read-modify-replace, so two listener-sims never lose each other's subscription.

`RedisSeekStore`: one sorted set per stream, `rooms:seek:subs:<stream>`, member the listener,
score its expiry (epoch seconds), so every listener has its own TTL; `rooms:seek:streams` the
set of streams ever subscribed; beacons in the list `rooms:seek:beacons`, newest first,
trimmed to BEACONS_KEPT.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # redis loads only where REDIS_URL is set (idle memory)
    from redis.asyncio import Redis

from rooms.config import Settings
from rooms.streams.files import _replace, append_beacon, read_recent

EXPIRES = "_expires_at"
BEACONS_KEPT = 1000
SUBS_PREFIX = "rooms:seek:subs:"
STREAMS_KEY = "rooms:seek:streams"
BEACONS_KEY = "rooms:seek:beacons"


class SeekStore(Protocol):
    ttl_s: float

    async def add_beacon(self, beacon: dict[str, Any]) -> None: ...
    async def recent_beacons(self, n: int) -> list[dict[str, Any]]: ...
    async def holders(self, stream_id: str) -> list[str]: ...
    async def subscriptions(self) -> dict[str, list[str]]: ...
    async def subscribe(self, stream_id: str, listener: str) -> None: ...
    async def renew(self, listener: str) -> list[str]: ...
    async def unsubscribe(self, listener: str, stream_id: str | None = None) -> None: ...


Held = dict[str, dict[str, float]]  # stream -> listener -> expiry (epoch seconds)


def _parse(text: str, mtime: float, ttl_s: float) -> Held:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    expiries = value.get(EXPIRES)
    expiries = expiries if isinstance(expiries, dict) else {}
    held: Held = {}
    for stream, listeners in value.items():
        if stream == EXPIRES or not isinstance(listeners, list):
            continue
        known = expiries.get(stream)
        known = known if isinstance(known, dict) else {}
        held[str(stream)] = {}
        for listener in listeners:
            at = known.get(str(listener))
            held[str(stream)][str(listener)] = (
                float(at) if isinstance(at, int | float) else mtime + ttl_s)
    return held


def _render(held: Held) -> str:
    doc: dict[str, Any] = {s: sorted(ls) for s, ls in held.items() if ls}
    doc[EXPIRES] = {s: {lid: round(at, 3) for lid, at in sorted(ls.items())}
                    for s, ls in held.items() if ls}
    return json.dumps(doc, indent=2) + "\n"


def _live(held: Held, now: float) -> dict[str, list[str]]:
    return {s: [lid for lid, at in ls.items() if at > now] for s, ls in held.items()}


class FileSeekStore:
    """Seed 002's two files. `wall` is the epoch clock expiries are judged by (tests move it)."""

    def __init__(self, beacon_path: Path, subscriptions_path: Path, *, ttl_s: float = 60.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.beacon_path = beacon_path
        self.subscriptions_path = subscriptions_path
        self.ttl_s = ttl_s
        self.wall = wall
        self._stamp: tuple[int, int, int] | None = None
        self._held: Held = {}
        self.reads = 0  # times the subscriptions file was parsed (the mtime cache's misses)

    # --- beacons ---------------------------------------------------------------------
    async def add_beacon(self, beacon: dict[str, Any]) -> None:
        await asyncio.to_thread(append_beacon, self.beacon_path, beacon)

    async def recent_beacons(self, n: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(read_recent, self.beacon_path, n)

    # --- reading subscriptions (cached on the file's stat) -----------------------------
    def _load(self) -> Held:
        try:
            st = os.stat(self.subscriptions_path)
        except FileNotFoundError:
            self._stamp, self._held = None, {}
            return self._held
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            try:
                text = self.subscriptions_path.read_text()
            except FileNotFoundError:
                text = "{}"
            self._held = _parse(text, st.st_mtime, self.ttl_s)
            self._stamp = stamp
            self.reads += 1
        return self._held

    async def holders(self, stream_id: str) -> list[str]:
        return _live(self._load(), self.wall()).get(stream_id, [])

    async def subscriptions(self) -> dict[str, list[str]]:
        return {s: ls for s, ls in _live(self._load(), self.wall()).items() if ls}

    # --- writing (listener side) ---------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[Held]:
        path = self.subscriptions_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                try:
                    held = _parse(path.read_text(), path.stat().st_mtime, self.ttl_s)
                except FileNotFoundError:
                    held = {}
                now = self.wall()
                held = {s: {lid: at for lid, at in ls.items() if at > now}
                        for s, ls in held.items()}  # expired holds are dropped on write
                yield held
                _replace(path, _render(held))
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _subscribe(self, stream_id: str, listener: str) -> None:
        with self._locked() as held:
            held.setdefault(stream_id, {})[listener] = self.wall() + self.ttl_s

    def _renew(self, listener: str) -> list[str]:
        with self._locked() as held:
            mine = [s for s, ls in held.items() if listener in ls]
            for stream in mine:
                held[stream][listener] = self.wall() + self.ttl_s
        return mine

    def _unsubscribe(self, listener: str, stream_id: str | None) -> None:
        with self._locked() as held:
            for stream, ls in held.items():
                if stream_id is None or stream == stream_id:
                    ls.pop(listener, None)

    async def subscribe(self, stream_id: str, listener: str) -> None:
        await asyncio.to_thread(self._subscribe, stream_id, listener)

    async def renew(self, listener: str) -> list[str]:
        return await asyncio.to_thread(self._renew, listener)

    async def unsubscribe(self, listener: str, stream_id: str | None = None) -> None:
        await asyncio.to_thread(self._unsubscribe, listener, stream_id)


class RedisSeekStore:
    """The same over Redis, shared by every process; each listener's hold has its own TTL."""

    def __init__(self, redis: Redis, *, ttl_s: float = 60.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self.wall = wall

    async def add_beacon(self, beacon: dict[str, Any]) -> None:
        text = json.dumps(beacon, separators=(",", ":"))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.lpush(BEACONS_KEY, text)
            pipe.ltrim(BEACONS_KEY, 0, BEACONS_KEPT - 1)
            await pipe.execute()

    async def recent_beacons(self, n: int) -> list[dict[str, Any]]:
        out = []
        for raw in reversed(await self.redis.lrange(  # type: ignore[misc]
                BEACONS_KEY, 0, max(0, n - 1))):
            with contextlib.suppress(ValueError):
                value = json.loads(raw)
                if isinstance(value, dict):
                    out.append(value)
        return out

    async def holders(self, stream_id: str) -> list[str]:
        found = await self.redis.zrangebyscore(SUBS_PREFIX + stream_id, f"({self.wall()}", "+inf")
        return [_text(x) for x in found]

    async def subscriptions(self) -> dict[str, list[str]]:
        out = {}
        for raw in await self.redis.smembers(STREAMS_KEY):  # type: ignore[misc]
            stream = _text(raw)
            if held := await self.holders(stream):
                out[stream] = held
        return out

    async def subscribe(self, stream_id: str, listener: str) -> None:
        now = self.wall()
        key = SUBS_PREFIX + stream_id
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(STREAMS_KEY, stream_id)
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.zadd(key, {listener: now + self.ttl_s})
            await pipe.execute()

    async def renew(self, listener: str) -> list[str]:
        now, mine = self.wall(), []
        for raw in await self.redis.smembers(STREAMS_KEY):  # type: ignore[misc]
            stream = _text(raw)
            key = SUBS_PREFIX + stream
            score = await self.redis.zscore(key, listener)
            if score is not None and score > now:
                await self.redis.zadd(key, {listener: now + self.ttl_s}, xx=True)
                mine.append(stream)
        return mine

    async def unsubscribe(self, listener: str, stream_id: str | None = None) -> None:
        streams = ([stream_id] if stream_id is not None
                   else [_text(x) for x in await self.redis.smembers(STREAMS_KEY)])  # type: ignore[misc]
        for stream in streams:
            await self.redis.zrem(SUBS_PREFIX + stream, listener)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def make_seek_store(settings: Settings, redis: Redis | None) -> SeekStore:
    """Redis when there is one (REDIS_URL), seed 002's files otherwise."""
    ttl = settings.noise_seek_subscription_ttl_s
    if redis is not None:
        return RedisSeekStore(redis, ttl_s=ttl)
    return FileSeekStore(settings.runtime_path(settings.noise_seek_beacon_path),
                         settings.runtime_path(settings.noise_seek_subscriptions_path), ttl_s=ttl)
