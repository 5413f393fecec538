"""Opening hours: the weekly schedule, what it says at a moment, and its per-process cache.

The schedule is a list of windows `{"day" (0=Monday), "open": "HH:MM", "close": "HH:MM",
"intake", "playback", "streams"}` in TIMEZONE (the node's one zone). A window whose close is
not after its open runs past midnight into the next day; "24:00" closes at midnight. Each
aspect (intake, playback, streams) is open while some window that opens it covers the
moment; an empty schedule is always open. Local times are turned into instants with the
zone's rules of that day, so a window keeps its wall-clock hours across a DST change; an
opening time that does not exist that day (the spring gap) happens an hour later by the
clock, an ambiguous one (the autumn repeat) at its first occurrence.

Every process keeps the schedule in memory (`state(res)`), read once and dropped when a
`surface` `hours` event says it changed (rooms.ops.hours_task). The clock is injectable
(`state(res).clock`), so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.kit.times import iso
from rooms.models import OpeningHours, utcnow

if TYPE_CHECKING:
    from rooms.resources import Resources

ASPECTS = ("intake", "playback", "streams")
MAX_WINDOWS = 56  # eight windows a day
_OPEN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_CLOSE = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
_WHERE = OpeningHours.singleton_key == "default"
_KEY = "hours"


class WindowIn(BaseModel):
    """One opening window; the flags say what it opens (all three by default)."""

    model_config = ConfigDict(extra="forbid")

    day: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    open: str = Field(pattern=_OPEN, description="local opening time, HH:MM")
    close: str = Field(pattern=_CLOSE, description="local closing time, HH:MM or 24:00; "
                                                    "at or before `open`: the next day")
    intake: bool = True
    playback: bool = True
    streams: bool = True

    @model_validator(mode="after")
    def _not_empty(self) -> WindowIn:
        if self.open == self.close:
            raise ValueError("open and close must differ (a window of 24 hours is "
                             "00:00-24:00)")
        return self


class ScheduleIn(BaseModel):
    """PUT /api/v1/operator/schedule. `timezone`, if given, must be the node's TIMEZONE."""

    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(None, max_length=64)
    weekly: list[WindowIn] = Field(max_length=MAX_WINDOWS)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Window:
    day: int
    open_min: int  # minutes after local midnight
    close_min: int  # may exceed 1440: the next day
    intake: bool = True
    playback: bool = True
    streams: bool = True

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Window:
        w = WindowIn.model_validate(raw)
        start, end = _minutes(w.open), _minutes(w.close)
        if end <= start:
            end += 24 * 60
        return cls(w.day, start, end, w.intake, w.playback, w.streams)

    def flag(self, aspect: str) -> bool:
        return bool(getattr(self, aspect))


def parse(weekly: Iterable[dict[str, Any]]) -> tuple[Window, ...]:
    """Windows from the stored (or sent) JSON; ValueError (pydantic's) if one is malformed."""
    return tuple(Window.of(raw) for raw in weekly)


def dump(windows: Sequence[WindowIn]) -> list[dict[str, Any]]:
    """The stored form: sorted by day and opening time."""
    rows = [w.model_dump() for w in windows]
    return sorted(rows, key=lambda r: (r["day"], r["open"], r["close"]))


@dataclass(frozen=True, slots=True)
class Openness:
    """What the schedule says at one instant. `next_change_at`: when any aspect next flips
    (None: never, e.g. no schedule); `opens_at[aspect]`: when a closed aspect next opens."""

    intake: bool = True
    playback: bool = True
    streams: bool = True
    next_change_at: datetime | None = None
    opens_at: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def open(self) -> bool:
        """Some part of the installation is open (intake, playback or streams)."""
        return self.intake or self.playback or self.streams

    def as_event(self) -> dict[str, Any]:
        """The body of the `surface` `hours` event and of surface/state's fields."""
        return {"open": self.open, "intake": self.intake, "playback": self.playback,
                "streams": self.streams, "next_change_at": iso(self.next_change_at)}


ALWAYS = Openness()


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    # wall-clock arithmetic: rebuild from the naive local time so DST applies that day
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    local = naive.replace(tzinfo=zone)
    return local.astimezone(UTC)


def _intervals(windows: Sequence[Window], zone: ZoneInfo,
               now: datetime) -> list[tuple[Window, datetime, datetime]]:
    """Every window's instants from yesterday (local) to eight days ahead."""
    today = now.astimezone(zone).date()
    out = []
    for offset in range(-1, 9):
        day = today + timedelta(days=offset)
        for w in windows:
            if w.day == day.weekday():
                out.append((w, _instant(day, w.open_min, zone), _instant(day, w.close_min, zone)))
    return out


def _at(spans: Sequence[tuple[Window, datetime, datetime]], moment: datetime) -> tuple[bool, ...]:
    return tuple(any(w.flag(a) and start <= moment < end for w, start, end in spans)
                 for a in ASPECTS)


def evaluate(windows: Sequence[Window], zone: ZoneInfo, now: datetime) -> Openness:
    """What `windows` (in `zone`) say at `now` (timezone-aware)."""
    if not windows:
        return ALWAYS
    spans = _intervals(windows, zone, now)
    state = _at(spans, now)
    edges = sorted({t for _, start, end in spans for t in (start, end) if t > now})
    next_change: datetime | None = None
    opens_at: dict[str, datetime | None] = {a: None for a, on in zip(ASPECTS, state,
                                                                       strict=True) if not on}
    for edge in edges:
        later = _at(spans, edge)
        if next_change is None and later != state:
            next_change = edge
        for aspect, on in zip(ASPECTS, later, strict=True):
            if aspect in opens_at and opens_at[aspect] is None and on:
                opens_at[aspect] = edge
        if next_change is not None and all(v is not None for v in opens_at.values()):
            break
    intake, playback, streams = state
    return Openness(intake, playback, streams, next_change_at=next_change, opens_at=opens_at)


# --- storage --------------------------------------------------------------------------------
def read_sync(conn: Connection) -> list[dict[str, Any]]:
    row = conn.execute(select(OpeningHours.weekly).where(_WHERE)).first()
    return list(row[0]) if row is not None and row[0] else []


async def read(session: AsyncSession) -> list[dict[str, Any]]:
    row = (await session.execute(select(OpeningHours.weekly).where(_WHERE))).first()
    return list(row[0]) if row is not None and row[0] else []


async def row_for_update(session: AsyncSession) -> OpeningHours:
    """The singleton row, created empty on the first write. Take the write slot first."""
    row = (await session.execute(select(OpeningHours).where(_WHERE))).scalar()
    if row is None:
        row = OpeningHours(singleton_key="default", weekly=[])
        session.add(row)
    return row


# --- the per-process copy -------------------------------------------------------------------
@dataclass
class HoursState:
    """One per process: the schedule as last read, and the clock (injectable)."""

    clock: Callable[[], datetime] = utcnow
    windows: tuple[Window, ...] | None = None
    _loading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def forget(self) -> None:
        self.windows = None

    def store(self, weekly: Iterable[dict[str, Any]]) -> None:
        self.windows = parse(weekly)


def state(res: Resources) -> HoursState:
    held = res.extras.get(_KEY)
    if not isinstance(held, HoursState):
        held = res.extras[_KEY] = HoursState()
    return held


async def windows(res: Resources) -> tuple[Window, ...]:
    s = state(res)
    if s.windows is None:
        async with s._loading:
            if s.windows is None:
                s.store(await res.db.read(read_sync))
    assert s.windows is not None
    return s.windows


async def now_open(res: Resources, now: datetime | None = None) -> Openness:
    """What the schedule says now (or at `now`); cheap after the first read."""
    found = await windows(res)
    if not found:
        return ALWAYS
    return evaluate(found, res.settings.zone(), now or state(res).clock())

