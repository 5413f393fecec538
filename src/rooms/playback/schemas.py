"""Wire shapes of the playback API (for OpenAPI; the routes build the same dicts)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel


class PoolArtifactOut(BaseModel):
    id: int
    lane: Literal["fresh", "mid", "worn"]
    density: Literal["light", "medium", "dense"]
    mood: Literal["clear", "hushed", "suspended", "weathered", "gathering"]
    wear: float
    play_count: int
    duration_ms: int
    effect_profile: str
    topic_tag: str
    media_kind: Literal["raw", "essence"]
    loudness_lufs: float | None
    audio_url: str
    playback_ack_url: str


class PoolNextOut(BaseModel):
    artifact: PoolArtifactOut | None
    pool_size: int
    thread_signal: dict[str, Any] | None
    reason: Literal["empty_pool", "playback_paused", "closed"] | None


class HeardOut(BaseModel):
    counted: bool
    play_count: int
    wear: float


class BudgetOut(BaseModel):
    limit: int
    remaining: int
    window_s: int


class KioskOut(BaseModel):
    language: Literal["en", "es_mx_ca"]
    accessibility_mode: Literal["", "large_high_contrast"]
    force_reduced_motion: bool
    max_recording_seconds: int
    theme_title: str
    theme_prompt: str


class HoursOut(BaseModel):
    """What the opening hours open now."""

    intake: bool
    playback: bool
    streams: bool


class SurfaceStateOut(BaseModel):
    intake_paused: bool
    playback_paused: bool
    quieter_mode: bool
    room_volume: float
    pool_size: int
    ingest_budget: BudgetOut
    kiosk: KioskOut
    open: bool = True  # within the opening hours (rooms.hours); always true without any
    next_change_at: str | None = None  # when the opening hours next change what is open
    hours: HoursOut | None = None


class EffectOut(BaseModel):
    code: str
    label: str
    label_es_mx_ca: str
    description: str
    dsp: dict[str, Any]
    topology: list[str]
    family: Literal["participant_memory_color"]
    version: str
    engine: str


class CueOut(BaseModel):
    kind: Literal["play", "pause"]
    gap_ms: int
    lane: Literal["any", "fresh", "mid", "worn"] | None = None
    density: Literal["any", "light", "medium", "dense"] | None = None
    mood: Literal["clear", "hushed", "suspended", "weathered", "gathering"] | None = None
    tone: Literal["idle", "sparse"] | None = None


class SceneOut(BaseModel):
    code: str
    movements: list[str]
    moods: list[str]
    cues: list[CueOut]


class MovementOut(BaseModel):
    code: str
    min_items: int
    max_items: int
    gap_multiplier: float
    scenes: list[str]
    preferred_moods: list[str]
    default_density: str
    dense_release_density: str
    light_recovery_density: str
    clear_release_mood: str
    dense_after_mood: str


class DaypartOut(BaseModel):
    code: str
    start_hour: int
    end_hour: int
    intensity: str
    movement_preset: str


class DaypartsOut(BaseModel):
    enabled: bool
    timezone: str
    items: list[DaypartOut]


class CompositionOut(BaseModel):
    """GET /api/v1/room/composition (rooms.playback.composition.build)."""

    version: int
    installation_profile: str
    deployment: dict[str, Any]
    intensity: dict[str, Any]
    movement_preset: dict[str, Any]
    scenes: list[SceneOut]
    movements: list[MovementOut]
    dayparts: DaypartsOut
    quiet_hours: dict[str, Any]
    tone: dict[str, Any]
    overlap: dict[str, Any]
    scarcity: dict[str, Any]
    archive_gap_tiers: list[dict[str, float]]
    quieter_mode: dict[str, float]
    loudness: dict[str, Any]
    source_slice: dict[str, int]
    fossil_visuals: dict[str, Any]
    policy: dict[str, Any]
