"""Pool classification (REFERENCE §2.4): the thresholds exactly, and the shape of the rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.playback.classify import (
    DENSITIES,
    LANES,
    Thresholds,
    density,
    lane,
    mood,
)
from tests.conftest import make_settings


@pytest.mark.parametrize(("wear", "play_count", "age_hours", "expected"), [
    (0.0, 0, 0.0, "fresh"),
    (0.18, 2, 8.0, "fresh"),  # every fresh bound is inclusive
    (0.1801, 2, 8.0, "mid"),
    (0.18, 3, 8.0, "mid"),
    (0.18, 2, 8.001, "mid"),
    (0.3799, 4, 17.999, "mid"),
    (0.38, 0, 0.0, "worn"),  # any one worn bound is enough, and inclusive
    (0.0, 5, 0.0, "worn"),
    (0.0, 0, 18.0, "worn"),
    (1.0, 100, 1000.0, "worn"),
])
def test_lane_thresholds(wear: float, play_count: int, age_hours: float, expected: str) -> None:
    assert lane(wear, play_count, age_hours) == expected


@pytest.mark.parametrize(("duration_ms", "expected"), [
    (0, "light"), (5000, "light"), (5001, "medium"), (17999, "medium"), (18000, "dense"),
    (300_000, "dense")])
def test_density_thresholds(duration_ms: int, expected: str) -> None:
    assert density(duration_ms) == expected


@pytest.mark.parametrize(("lane_", "density_", "age_hours", "expected"), [
    ("fresh", "light", 0.0, "clear"),
    ("fresh", "medium", 0.0, "gathering"),
    ("fresh", "dense", 0.0, "gathering"),
    ("worn", "dense", 30.0, "weathered"),
    ("worn", "light", 30.0, "hushed"),
    ("worn", "medium", 1.0, "hushed"),
    ("mid", "dense", 1.0, "suspended"),
    ("mid", "light", 12.0, "suspended"),  # aged from 12 h
    ("mid", "medium", 11.99, "hushed"),
    ("mid", "light", 0.0, "hushed"),
])
def test_mood_rules_in_order(lane_: str, density_: str, age_hours: float,
                             expected: str) -> None:
    assert mood(lane_, density_, age_hours) == expected  # type: ignore[arg-type]


RANK = {name: i for i, name in enumerate(LANES)}
wears = st.floats(0.0, 1.0)
plays = st.integers(0, 50)
ages = st.floats(0.0, 1000.0)


@given(wears, plays, ages, wears, plays, ages)
def test_more_wear_plays_or_age_never_makes_a_take_fresher(
        w1: float, p1: int, a1: float, w2: float, p2: int, a2: float) -> None:
    low = lane(min(w1, w2), min(p1, p2), min(a1, a2))
    high = lane(max(w1, w2), max(p1, p2), max(a1, a2))
    assert RANK[low] <= RANK[high]


@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_longer_takes_are_never_lighter(d1: int, d2: int) -> None:
    order = {name: i for i, name in enumerate(DENSITIES)}
    assert order[density(min(d1, d2))] <= order[density(max(d1, d2))]


@given(wears, plays, ages, st.integers(0, 10**6))
def test_each_mood_belongs_to_its_lane(wear: float, play_count: int, age_hours: float,
                                       duration_ms: int) -> None:
    ln, dn = lane(wear, play_count, age_hours), density(duration_ms)
    md = mood(ln, dn, age_hours)
    assert (md in ("clear", "gathering")) == (ln == "fresh")
    assert (md == "weathered") == (ln == "worn" and dn == "dense")
    if md == "suspended":
        assert ln == "mid" and (dn == "dense" or age_hours >= 12)


def test_lane_thresholds_follow_the_pool_settings(tmp_path: Path) -> None:
    t = Thresholds.from_settings(make_settings(tmp_path, pool_fresh_max_wear=0.05,
                                               pool_worn_min_play_count=3))
    assert lane(0.1, 0, 0.0, t) == "mid"
    assert lane(0.0, 3, 0.0, t) == "worn"
    assert Thresholds.from_settings(make_settings(tmp_path)) == Thresholds()
