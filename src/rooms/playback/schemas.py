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
    audio_url: str
    playback_ack_url: str


class PoolNextOut(BaseModel):
    artifact: PoolArtifactOut | None
    pool_size: int
    thread_signal: dict[str, Any] | None
    reason: Literal["empty_pool", "playback_paused"] | None


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


class SurfaceStateOut(BaseModel):
    intake_paused: bool
    playback_paused: bool
    quieter_mode: bool
    pool_size: int
    ingest_budget: BudgetOut
    kiosk: KioskOut


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
