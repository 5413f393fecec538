"""Pool classification (REFERENCE §2.4): lane, density and mood.

Whether a take is in the pool at all is `playback.playable`.

The pure functions classify one artifact; the `*_sql` builders express the same thresholds
as SQL, so the node status can count 100,000 artifacts with one GROUP BY instead of loading
them. Both read one `Thresholds`, so they cannot drift apart.

- lane: `fresh` if wear <= 0.18 and play_count <= 2 and age <= 8 h; `worn` if wear >= 0.38
  or play_count >= 5 or age >= 18 h; `mid` otherwise.
- density: `light` if duration <= 5000 ms, `dense` if >= 18000 ms, `medium` otherwise.
- mood, first match: fresh+light `clear`; fresh `gathering`; worn+dense `weathered`; worn
  `hushed`; dense or age >= 12 h `suspended`; otherwise `hushed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, or_

from rooms.config import Settings
from rooms.models import Artifact

Lane = Literal["fresh", "mid", "worn"]
Density = Literal["light", "medium", "dense"]
Mood = Literal["clear", "hushed", "suspended", "weathered", "gathering"]
LANES: tuple[Lane, ...] = ("fresh", "mid", "worn")
DENSITIES: tuple[Density, ...] = ("light", "medium", "dense")
MOODS: tuple[Mood, ...] = ("clear", "hushed", "suspended", "weathered", "gathering")


@dataclass(frozen=True, slots=True)
class Thresholds:
    fresh_max_wear: float = 0.18
    fresh_max_play_count: int = 2
    fresh_max_age_hours: float = 8.0
    worn_min_wear: float = 0.38
    worn_min_play_count: int = 5
    worn_min_age_hours: float = 18.0
    suspended_min_age_hours: float = 12.0
    light_max_ms: int = 5000
    dense_min_ms: int = 18000

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        """The lane thresholds are settings (POOL_FRESH_*, POOL_WORN_*); the rest are fixed."""
        return cls(fresh_max_wear=s.pool_fresh_max_wear,
                   fresh_max_play_count=s.pool_fresh_max_play_count,
                   fresh_max_age_hours=s.pool_fresh_max_age_hours,
                   worn_min_wear=s.pool_worn_min_wear,
                   worn_min_play_count=s.pool_worn_min_play_count,
                   worn_min_age_hours=s.pool_worn_min_age_hours)


DEFAULT = Thresholds()


def lane(wear: float, play_count: int, age_hours: float, t: Thresholds = DEFAULT) -> Lane:
    if (wear <= t.fresh_max_wear and play_count <= t.fresh_max_play_count
            and age_hours <= t.fresh_max_age_hours):
        return "fresh"
    if (wear >= t.worn_min_wear or play_count >= t.worn_min_play_count
            or age_hours >= t.worn_min_age_hours):
        return "worn"
    return "mid"


def density(duration_ms: int, t: Thresholds = DEFAULT) -> Density:
    if duration_ms <= t.light_max_ms:
        return "light"
    if duration_ms >= t.dense_min_ms:
        return "dense"
    return "medium"


def mood_of(lane: Lane, density: Density, *, aged: bool) -> Mood:
    """The mood, given whether the artifact is past the suspended age (12 h)."""
    if lane == "fresh":
        return "clear" if density == "light" else "gathering"
    if lane == "worn":
        return "weathered" if density == "dense" else "hushed"
    return "suspended" if density == "dense" or aged else "hushed"


def mood(lane: Lane, density: Density, age_hours: float, t: Thresholds = DEFAULT) -> Mood:
    return mood_of(lane, density, aged=age_hours >= t.suspended_min_age_hours)


def place(wear: float, play_count: int, duration_ms: int, age_hours: float,
          t: Thresholds = DEFAULT) -> tuple[Lane, Density, Mood]:
    """A take's lane, density and mood together."""
    ln, dn = lane(wear, play_count, age_hours, t), density(duration_ms, t)
    return ln, dn, mood(ln, dn, age_hours, t)


# --- the same rules in SQL ---------------------------------------------------------------
# An age bound "age <= H hours" is "created_at >= now - H", compared as bound datetimes so
# that SQLite and PostgreSQL agree without date arithmetic in SQL.


def _born_before(now: datetime, hours: float) -> datetime:
    return now - timedelta(hours=hours)


def lane_sql(now: datetime, t: Thresholds = DEFAULT) -> ColumnElement[str]:
    fresh = and_(Artifact.wear <= t.fresh_max_wear,
                 Artifact.play_count <= t.fresh_max_play_count,
                 Artifact.created_at >= _born_before(now, t.fresh_max_age_hours))
    worn = or_(Artifact.wear >= t.worn_min_wear,
               Artifact.play_count >= t.worn_min_play_count,
               Artifact.created_at <= _born_before(now, t.worn_min_age_hours))
    return case((fresh, "fresh"), (worn, "worn"), else_="mid")


def density_sql(t: Thresholds = DEFAULT) -> ColumnElement[str]:
    return case((Artifact.duration_ms <= t.light_max_ms, "light"),
                (Artifact.duration_ms >= t.dense_min_ms, "dense"), else_="medium")


def aged_sql(now: datetime, t: Thresholds = DEFAULT) -> ColumnElement[int]:
    """1 when the artifact is at least `suspended_min_age_hours` old, else 0."""
    return case((Artifact.created_at <= _born_before(now, t.suspended_min_age_hours), 1),
                else_=0)


def mood_sql(now: datetime, t: Thresholds = DEFAULT) -> ColumnElement[str]:
    """The mood rule of `mood_of` as SQL."""
    ln, dn = lane_sql(now, t), density_sql(t)
    return case((and_(ln == "fresh", dn == "light"), "clear"), (ln == "fresh", "gathering"),
                (and_(ln == "worn", dn == "dense"), "weathered"), (ln == "worn", "hushed"),
                (or_(dn == "dense", aged_sql(now, t) == 1), "suspended"),
                else_="hushed")
