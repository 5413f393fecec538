"""Pool selection (REFERENCE §2.4), pure: weights, narrowing, the weighted pick, thread signal.

No database and no clock here: the repository reads a batch of candidates, this module
decides among them with an injected `random.Random`, so a seeded draw is reproducible.

Weight = product of the factors below, floored at 0.1:
- cooldown `min(3, 1 + seconds_since_access / cooldown)` (never heard: 3);
- rarity `1 / (1 + 0.45 play_count)`; wear `max(0.45, 1.15 - 0.55 wear)`;
- age: <=1 h 0.82, <=8 h 0.96, <=72 h 1.16, <=240 h 1.05, else 0.92;
- mood, when a mood is asked for (or the steward set a mood bias): 1.5 on a match, else 0.88;
- featured return (age >= 168 h and unheard for >= 96 h): POOL_FEATURED_RETURN_BOOST times
  the deployment's featured multiplier;
- density balance over the last three heard takes: two dense -> dense
  POOL_DENSITY_CLUSTER_PENALTY, light POOL_DENSITY_RELEASE_BOOST, medium 1.08; two light ->
  light 0.80, medium 1.12, dense 1.06;
- the deployment's own factor (`rooms.playback.deployments`; memory 1.0).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rooms.config import Settings
from rooms.playback.classify import Density, Lane, Mood, Thresholds, place
from rooms.playback.deployments import DEPLOYMENTS, RESOLVED, UNRESOLVED, Deployment

WEIGHT_FLOOR = 0.1
# the deployments' multipliers (candidate, cooldown, wear, featured, ...) by code
PROFILES: dict[str, Deployment] = DEPLOYMENTS


@dataclass(frozen=True, slots=True)
class Policy:
    cooldown_s: float
    candidate_limit: int
    featured_min_age_h: float
    featured_min_absence_h: float
    featured_boost: float
    cluster_penalty: float
    release_boost: float
    thresholds: Thresholds
    deployment: Deployment = DEPLOYMENTS["memory"]

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        profile = PROFILES[s.engine_deployment]
        return cls(cooldown_s=s.pool_play_cooldown_seconds * profile.cooldown,
                   candidate_limit=max(5, round(s.pool_candidate_limit * profile.candidate)),
                   featured_min_age_h=s.pool_featured_return_min_age_hours,
                   featured_min_absence_h=s.pool_featured_return_min_absence_hours,
                   featured_boost=s.pool_featured_return_boost * profile.featured,
                   cluster_penalty=s.pool_density_cluster_penalty,
                   release_boost=s.pool_density_release_boost,
                   thresholds=Thresholds.from_settings(s), deployment=profile)


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    wear: float
    play_count: int
    duration_ms: int
    created_at: datetime
    last_access_at: datetime | None
    effect_profile: str = "clear"
    topic_tag: str = ""
    lifecycle_status: str = ""
    deployment_kind: str = "memory"
    has_raw: bool = True
    loudness_lufs: float | None = None  # of the raw take; None until measured
    essence_loudness_lufs: float | None = None

    @property
    def media_loudness(self) -> float | None:
        """The loudness of what the take plays now: its raw audio, else its essence."""
        return self.loudness_lufs if self.has_raw else self.essence_loudness_lufs


@dataclass(frozen=True, slots=True)
class Classified:
    candidate: Candidate
    lane: Lane
    density: Density
    mood: Mood


def _hours(delta_s: float) -> float:
    return delta_s / 3600.0


def classify(c: Candidate, now: datetime, t: Thresholds) -> Classified:
    age_h = _hours((now - c.created_at).total_seconds())
    return Classified(c, *place(c.wear, c.play_count, c.duration_ms, age_h, t))


def _age_factor(age_h: float) -> float:
    for limit, factor in ((1, 0.82), (8, 0.96), (72, 1.16), (240, 1.05)):
        if age_h <= limit:
            return factor
    return 0.92


def _density_factor(d: Density, recent: Sequence[Density], p: Policy) -> float:
    last = list(recent[:3])
    if last.count("dense") >= 2:
        return {"dense": p.cluster_penalty, "light": p.release_boost, "medium": 1.08}[d]
    if last.count("light") >= 2:
        return {"light": 0.80, "medium": 1.12, "dense": 1.06}[d]
    return 1.0


def weight(k: Classified, now: datetime, p: Policy, *, recent: Sequence[Density] = (),
           mood_target: Mood | None = None) -> float:
    """The candidate's weight; `recent` is the densities of the last heard takes, newest first."""
    c = k.candidate
    age_s = max(0.0, (now - c.created_at).total_seconds())
    if c.last_access_at is None:
        cooldown, absence_s = 3.0, age_s
    else:
        absence_s = max(0.0, (now - c.last_access_at).total_seconds())
        cooldown = 3.0 if p.cooldown_s <= 0 else min(3.0, 1.0 + absence_s / p.cooldown_s)
    w = cooldown
    w *= 1.0 / (1.0 + 0.45 * c.play_count)
    w *= max(0.45, 1.15 - 0.55 * c.wear)
    w *= _age_factor(_hours(age_s))
    if mood_target is not None:
        w *= 1.5 if k.mood == mood_target else 0.88
    if (_hours(age_s) >= p.featured_min_age_h
            and _hours(absence_s) >= p.featured_min_absence_h):
        w *= p.featured_boost
    w *= _density_factor(k.density, recent, p)
    if p.deployment.preferred:  # memory's factor is 1.0
        w *= p.deployment.factor(c, _hours(age_s), _hours(absence_s))
    return max(WEIGHT_FLOOR, w)


def narrow(pool: Sequence[Classified], *, lane: Lane | None = None,
           density: Density | None = None, mood: Mood | None = None) -> list[Classified]:
    """Apply each requested filter in turn, but only when something matches it."""
    out = list(pool)
    for attr, wanted in (("lane", lane), ("density", density), ("mood", mood)):
        if wanted is None:
            continue
        matching = [k for k in out if getattr(k, attr) == wanted]
        if matching:
            out = matching
    return out


def pick(pool: Sequence[Classified], now: datetime, p: Policy, rng: random.Random, *,
         recent: Sequence[Density] = (), mood_target: Mood | None = None) -> Classified | None:
    if not pool:
        return None
    weights = [weight(k, now, p, recent=recent, mood_target=mood_target) for k in pool]
    return rng.choices(pool, weights=weights, k=1)[0]


def thread_signal(c: Candidate) -> dict[str, Any] | None:
    """`question_chorus` / `repair_bench` for an open thread, else None (upstream's "")."""
    if not c.topic_tag:
        return None
    status = c.lifecycle_status.strip().lower()
    if c.deployment_kind == "question" and status in UNRESOLVED:
        kind = "question_chorus"
    elif c.deployment_kind == "repair" and status not in RESOLVED:
        kind = "repair_bench"
    else:
        return None
    return {"kind": kind, "deployment": c.deployment_kind, "topic_tag": c.topic_tag,
            "lifecycle_status": c.lifecycle_status}
