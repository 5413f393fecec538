"""Devices: kiosks and room pages that report themselves over /ws/live.

A page sends `{"op": "device", "kind": "kiosk" | "room", "name": "...", "status": {...}}`
when it connects and every 20 s or so after; the server answers `{"op": "device_seen"}`.
The registry remembers each (kind, name) with when it was last heard and its small status
(microphone or audio state). It is bounded (`MAX_DEVICES`; the longest silent is forgotten
first), keeps no token or secret (keys that look like one are dropped), and lives in the
process's memory: a restart forgets the devices until they report again (within 20 s).
With Redis, each report is also written to one shared hash (`rooms:devices`, bounded to
`MAX_SHARED` entries, the longest silent pruned), so every api process lists every device
(`all()`); a Redis failure is logged and the process's own list is answered. One
connection reports one device (another name on it is refused).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from rooms.logging import get_logger

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from rooms.resources import Resources

log = get_logger("rooms.live.devices")

KINDS = ("kiosk", "room")
Kind = Literal["kiosk", "room"]
MAX_DEVICES = 64
MAX_NAME = 64
MAX_STATUS_KEYS = 12
MAX_STATUS_KEY = 32
MAX_STATUS_TEXT = 80
MAX_SHARED = 4 * MAX_DEVICES
REDIS_KEY = "rooms:devices"
FORGET_AFTER_S = 24 * 3600.0
_SECRETISH = ("token", "secret", "password", "passwd", "key", "cookie", "auth")


class DeviceError(ValueError):
    """A malformed device report; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class DeviceReport:
    kind: Kind
    name: str
    status: dict[str, str | int | float | bool | None]


def _clean_status(raw: object) -> dict[str, str | int | float | bool | None]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DeviceError("\"status\" must be an object of a few plain values")
    if len(raw) > MAX_STATUS_KEYS:
        raise DeviceError(f"\"status\" may hold at most {MAX_STATUS_KEYS} keys")
    out: dict[str, str | int | float | bool | None] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or not key or len(key) > MAX_STATUS_KEY:
            raise DeviceError(f"\"status\" keys are names of at most {MAX_STATUS_KEY} "
                              "characters")
        if any(word in key.lower() for word in _SECRETISH):
            continue  # never stored: a device has no business reporting one
        if isinstance(value, str):
            out[key] = value[:MAX_STATUS_TEXT]
        elif value is None or isinstance(value, bool | int | float):
            out[key] = value
        else:
            raise DeviceError("\"status\" values must be strings, numbers, booleans or null")
    return out


def parse_report(data: dict[str, Any]) -> DeviceReport:
    """A device report from a parsed client message; DeviceError when malformed."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise DeviceError(f"\"kind\" must be one of: {', '.join(KINDS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise DeviceError(f"\"name\" must be a non-empty string of at most {MAX_NAME} "
                          "characters")
    name = " ".join(name.split())
    if not name.isprintable():
        raise DeviceError("\"name\" must be printable text")
    return DeviceReport(kind, name, _clean_status(data.get("status")))


@dataclass(slots=True)
class Seen:
    kind: Kind
    name: str
    status: dict[str, Any]
    last_seen: float  # wall-clock seconds


@dataclass
class DeviceRegistry:
    """One per process. `clock` (wall-clock seconds) is injectable for tests."""

    clock: Callable[[], float] = time.time
    limit: int = MAX_DEVICES
    redis: Redis | None = None
    _seen: dict[tuple[str, str], Seen] = field(default_factory=dict)
    _writes: set[asyncio.Task[None]] = field(default_factory=set)

    def seen(self, report: DeviceReport) -> None:
        now = self.clock()
        key = (report.kind, report.name)
        self._seen.pop(key, None)  # re-insert: the dict stays in order of last report
        entry = self._seen[key] = Seen(report.kind, report.name, report.status, now)
        while len(self._seen) > self.limit:
            del self._seen[next(iter(self._seen))]
        if self.redis is not None:  # written in the background: a report never waits
            task = asyncio.get_running_loop().create_task(self._share(entry))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _share(self, entry: Seen) -> None:
        assert self.redis is not None
        try:
            await self.redis.hset(REDIS_KEY, f"{entry.kind}:{entry.name}",  # type: ignore[misc]
                                  json.dumps(asdict(entry)))
            if await self.redis.hlen(REDIS_KEY) > MAX_SHARED:  # type: ignore[misc]
                shared = await self._shared()
                keep = sorted(shared, key=lambda s: -s.last_seen)[:self.limit]
                gone = {f"{s.kind}:{s.name}" for s in shared} - {f"{s.kind}:{s.name}"
                                                                  for s in keep}
                if gone:
                    await self.redis.hdel(REDIS_KEY, *gone)  # type: ignore[misc]
        except Exception as exc:  # Redis away: this process still knows the device
            log.warning("live.devices.share_failed", error=type(exc).__name__)

    async def _shared(self) -> list[Seen]:
        assert self.redis is not None
        out = []
        for raw in (await self.redis.hgetall(REDIS_KEY)).values():  # type: ignore[misc]
            try:
                d = json.loads(raw)
                out.append(Seen(d["kind"], str(d["name"]), dict(d["status"]),
                                float(d["last_seen"])))
            except (ValueError, KeyError, TypeError):
                continue
        return out

    async def all(self) -> list[Seen]:
        """Every device any process heard within FORGET_AFTER_S (this process's own
        without Redis, or when Redis does not answer), by kind and name."""
        merged = {(s.kind, s.name): s for s in self.items()}
        if self.redis is None:
            return list(merged.values())
        try:
            shared = await self._shared()
        except Exception as exc:
            log.warning("live.devices.read_failed", error=type(exc).__name__)
            return list(merged.values())
        now = self.clock()
        for s in shared:
            held = merged.get((s.kind, s.name))
            if now - s.last_seen <= FORGET_AFTER_S and (held is None
                                                         or held.last_seen < s.last_seen):
                merged[(s.kind, s.name)] = s
        newest = sorted(merged.values(), key=lambda s: -s.last_seen)[:MAX_SHARED]
        return sorted(newest, key=lambda s: (s.kind, s.name))

    def items(self) -> list[Seen]:
        """Every device heard within FORGET_AFTER_S, by kind and name."""
        now = self.clock()
        for key in [k for k, s in self._seen.items() if now - s.last_seen > FORGET_AFTER_S]:
            del self._seen[key]
        return sorted(self._seen.values(), key=lambda s: (s.kind, s.name))

    def forget(self, kind: str, name: str) -> bool:
        return self._seen.pop((kind, name), None) is not None


def registry(res: Resources) -> DeviceRegistry:
    """This process's registry (kept in `res.extras`)."""
    held = res.extras.get("devices")
    if not isinstance(held, DeviceRegistry):
        held = res.extras["devices"] = DeviceRegistry(redis=res.redis)
    return held
