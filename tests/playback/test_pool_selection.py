"""The pool's weights and draw, without a database: seeded, so every run is the same."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from rooms.config import load_settings
from rooms.playback import pool
from rooms.playback.pool import Candidate, Policy

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = Policy.from_settings(load_settings(secret_key="x" * 40))


def cand(i: int, *, age_h: float = 30.0, wear: float = 0.0, plays: int = 0,
         heard_h: float | None = None, ms: int = 8000) -> pool.Classified:
    c = Candidate(id=i, wear=wear, play_count=plays, duration_ms=ms,
                  created_at=NOW - timedelta(hours=age_h),
                  last_access_at=None if heard_h is None else NOW - timedelta(hours=heard_h))
    return pool.classify(c, NOW, POLICY.thresholds)


def draws(pool_: list[pool.Classified], n: int = 2000, seed: int = 7,
          **kw: object) -> Counter[int]:
    rng = random.Random(seed)
    return Counter(pool.pick(pool_, NOW, POLICY, rng, **kw).candidate.id  # type: ignore[union-attr, arg-type]
                   for _ in range(n))


def test_a_worn_often_heard_take_is_drawn_less_than_a_fresh_one() -> None:
    fresh, worn = cand(1, age_h=3), cand(2, age_h=3, wear=0.7, plays=10, heard_h=0.01)
    counts = draws([fresh, worn])
    assert counts == draws([fresh, worn])  # same seed, same draws
    assert counts[1] > 10 * counts[2] > 0


def test_weights_follow_the_reference_factors() -> None:
    base = pool.weight(cand(1, age_h=30), NOW, POLICY)
    assert base == pytest.approx(3 * 1 * 1.15 * 1.16)
    heard_just_now = pool.weight(cand(1, age_h=30, heard_h=0), NOW, POLICY)
    assert heard_just_now == pytest.approx(1 * 1.15 * 1.16)
    assert pool.weight(cand(1, age_h=30, plays=4), NOW, POLICY) == pytest.approx(
        base / (1 + 0.45 * 4))
    assert pool.weight(cand(1, age_h=30, wear=1.0), NOW, POLICY) == pytest.approx(
        3 * 0.6 * 1.16)
    assert pool.weight(cand(1, age_h=0.5), NOW, POLICY) == pytest.approx(3 * 1.15 * 0.82)
    # featured return: a week old, unheard for four days
    featured = pool.weight(cand(1, age_h=200, heard_h=100), NOW, POLICY)
    assert featured == pytest.approx(3 * 1.15 * 1.05 * 1.45)
    # floor
    assert pool.weight(cand(1, plays=1000, wear=1.0, heard_h=0), NOW, POLICY) == 0.1


def test_after_a_dense_cluster_light_takes_are_preferred() -> None:
    light, dense = cand(1, ms=3000), cand(2, ms=30_000)
    assert light.density == "light" and dense.density == "dense"
    calm = draws([light, dense])
    after_dense = draws([light, dense], recent=["dense", "dense", "light"])
    assert after_dense[1] > calm[1]
    ratio = pool.weight(light, NOW, POLICY, recent=["dense", "medium", "dense"]) / pool.weight(
        dense, NOW, POLICY, recent=["dense", "medium", "dense"])
    assert ratio == pytest.approx(1.18 / 0.62)


def test_a_requested_mood_is_favoured_when_not_filtered_out() -> None:
    clear, weathered = cand(1, age_h=1, ms=3000), cand(2, age_h=40, plays=6, ms=30_000)
    assert (clear.mood, weathered.mood) == ("clear", "weathered")
    w_plain = pool.weight(weathered, NOW, POLICY)
    assert pool.weight(weathered, NOW, POLICY, mood_target="weathered") == pytest.approx(
        1.5 * w_plain)
    assert pool.weight(weathered, NOW, POLICY, mood_target="clear") == pytest.approx(
        0.88 * w_plain)


def test_narrowing_applies_each_filter_only_when_something_matches() -> None:
    fresh_light, worn_dense = cand(1, age_h=1, ms=3000), cand(2, age_h=40, ms=30_000)
    both = [fresh_light, worn_dense]
    assert pool.narrow(both, lane="worn") == [worn_dense]
    assert pool.narrow(both, lane="mid") == both
    assert pool.narrow(both, lane="fresh", density="dense") == [fresh_light]
    assert pool.pick([], NOW, POLICY, random.Random(1)) is None


def test_deployment_profiles_scale_cooldown_and_candidates() -> None:
    oracle = Policy.from_settings(load_settings(secret_key="x" * 40, engine_deployment="oracle"))
    assert (oracle.cooldown_s, oracle.candidate_limit) == (135.0, 32)
    assert POLICY.cooldown_s == 90 and POLICY.candidate_limit == 40
