"""The steward's posture: one place to read it, write it, cache it and announce it.

The posture is the `steward_state` row: the switches (intake, playback, quiet, maintenance),
the mood bias, the room's master volume (`room_volume`), and the kiosk and session fields
the pages use. Every process keeps one cached copy (`posture(res)`), read at most once per
`CACHE_TTL_S`; a change is announced on the `surface` topic after it commits (through Redis
to every api process), and each process drops its copy when it hears that, so every kiosk
and room obeys at once. The TTL is only the fallback for an announcement lost while Redis
was down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.kit.times import iso
from rooms.live import surface
from rooms.logging import get_logger
from rooms.models import StewardState
from rooms.models.steward import SWITCHES

if TYPE_CHECKING:
    from rooms.resources import Resources

log = get_logger("rooms.steward")

CACHE_TTL_S = 5.0
SURFACE = surface.SURFACE
_CACHE_KEY = "steward.posture"


@dataclass(frozen=True, slots=True)
class Posture:
    """The steward's current settings, defaults before the first change."""

    intake_paused: bool = False
    playback_paused: bool = False
    quieter_mode: bool = False
    maintenance_mode: bool = False
    mood_bias: str = ""
    room_volume: float = 1.0  # the room's master volume, 0..1 (docs/loudness.md)
    kiosk_language_code: str = ""
    kiosk_accessibility_mode: str = ""
    kiosk_force_reduced_motion: bool = False
    kiosk_max_recording_seconds: int = 120
    session_theme_title: str = ""
    session_theme_prompt: str = ""
    deployment_focus_topic: str = ""
    deployment_focus_status: str = ""
    updated_at: datetime | None = None

    @property
    def intake_closed(self) -> bool:
        """Uploads are refused (503 `intake_paused`)."""
        return self.intake_paused or self.maintenance_mode

    @property
    def playback_stopped(self) -> bool:
        """The room gets no next take (`reason: playback_paused`)."""
        return self.playback_paused or self.maintenance_mode

    @classmethod
    def of(cls, row: StewardState | Any | None) -> Posture:
        if row is None:
            return cls()
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def switches(self) -> dict[str, Any]:
        """The operator API's view: each switch, the mood bias, when it last changed."""
        return {**{flag: bool(getattr(self, flag)) for flag in SWITCHES},
                "mood_bias": self.mood_bias, "updated_at": iso(self.updated_at)}

    def values(self) -> dict[str, Any]:
        """Every field but `updated_at`: the body of the `surface` posture event."""
        body = asdict(self)
        body.pop("updated_at")
        return body


_COLUMNS = [getattr(StewardState, f.name) for f in fields(Posture)]
_WHERE = StewardState.singleton_key == "default"


def read_sync(conn: Connection) -> Posture:
    """The posture from the database (for `Database.read`)."""
    return Posture.of(conn.execute(select(*_COLUMNS).where(_WHERE)).first())


async def read(session: AsyncSession) -> Posture:
    return Posture.of((await session.execute(select(*_COLUMNS).where(_WHERE))).first())


async def row_for_update(session: AsyncSession) -> StewardState:
    """The singleton row to change, created with the defaults on the first change ever.
    Take the write slot first (`uow.begin_write`)."""
    state = (await session.execute(select(StewardState).where(_WHERE))).scalar()
    if state is None:
        state = StewardState(singleton_key="default",
                             **{f.name: getattr(Posture(), f.name) for f in fields(Posture)
                                if f.name != "updated_at"})
        session.add(state)
    return state


@dataclass
class PostureCache:
    """One per process. `clock` is injectable so tests move time instead of sleeping."""

    ttl_s: float = CACHE_TTL_S
    clock: Callable[[], float] = time.monotonic
    _value: tuple[float, Posture] | None = None
    _loading: asyncio.Lock | None = None

    def peek(self) -> Posture | None:
        if self._value is None or self.clock() - self._value[0] > self.ttl_s:
            return None
        return self._value[1]

    def store(self, value: Posture) -> None:
        self._value = (self.clock(), value)

    def forget(self) -> None:
        self._value = None


def cache(res: Resources) -> PostureCache:
    held = res.extras.get(_CACHE_KEY)
    if not isinstance(held, PostureCache):
        held = res.extras[_CACHE_KEY] = PostureCache()
    return held


async def posture(res: Resources) -> Posture:
    """This process's copy of the posture, read afresh when stale or announced changed.
    Concurrent callers share one read."""
    c = cache(res)
    if (value := c.peek()) is not None:
        return value
    if c._loading is None:
        c._loading = asyncio.Lock()
    async with c._loading:
        if (value := c.peek()) is None:
            value = await res.db.read(read_sync)
            c.store(value)
    return value


async def announce(res: Resources, new: Posture) -> None:
    """After a committed change: this process uses `new` at once, and the posture goes out
    on `surface` (every api process drops its copy)."""
    cache(res).store(new)
    await surface.posture_changed(res.events, **new.values())


@asynccontextmanager
async def follow(res: Resources) -> AsyncIterator[None]:
    """While open, drop this process's copy whenever a posture event arrives (from any
    process), so the next read sees the change."""
    hub = res.live

    async def listen() -> None:
        async with hub.subscribe(SURFACE) as sub:
            async for event in sub.events():
                if event.data().get("event") == "posture":
                    cache(res).forget()

    task = asyncio.create_task(listen(), name="steward-follow")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

