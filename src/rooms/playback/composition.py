"""The room composer's configuration (REFERENCE §2.6), pure: settings in, one JSON object out.

`build(settings)` is the body of GET /api/v1/room/composition and the object the `/room/`
page composes with: scenes and their cues, movements, intensity profiles and movement
presets, dayparts (hours in `Settings.zone()`), quiet hours, tone, overlap, scarcity and
archive-gap tiers, the quieter-mode overlay and the sequencer policy, with the installation
profile and any explicit ROOM_* env var already applied (config.py does that), and the
deployment's playback multipliers (`rooms.playback.deployments`).

`pacing(...)` is the reference arithmetic of the gap, tone, output and overlap multipliers
the page applies for a moment (daypart, quiet hours, quieter mode, pool size); the page's
JS mirrors it and the tests pin it here.

Shapes: hours are local hours 0-23 with `end_hour` exclusive (a range may wrap midnight);
gaps are milliseconds; every `*_multiplier` / `gap` / `pause` / `tone` / `output` is a
plain factor on the room's base value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rooms.config import Settings
from rooms.playback import deployments
from rooms.resources import Resources

VERSION = 1

INTENSITY_PROFILES: dict[str, dict[str, float]] = {
    "quiet": {"cue_gap": 1.24, "pause_gap": 1.35, "tone": 1.15},
    "balanced": {"cue_gap": 1.0, "pause_gap": 1.0, "tone": 1.0},
    "active": {"cue_gap": 0.82, "pause_gap": 0.78, "tone": 0.92},
}

MOVEMENT_PRESETS: dict[str, dict[str, float]] = {
    "meditative": {"gap_multiplier": 1.18, "min_items_delta": 1, "max_items_delta": 1},
    "balanced": {"gap_multiplier": 1.0, "min_items_delta": 0, "max_items_delta": 0},
    "active": {"gap_multiplier": 0.88, "min_items_delta": 0, "max_items_delta": -1},
}


def _play(lane: str, density: str, mood: str, gap_ms: int) -> dict[str, Any]:
    return {"kind": "play", "lane": lane, "density": density, "mood": mood, "gap_ms": gap_ms}


def _pause(gap_ms: int, tone: str) -> dict[str, Any]:
    """A silent cue: the room-tone bed alone for `gap_ms`, at the `tone` gain (sparse|idle)."""
    return {"kind": "pause", "gap_ms": gap_ms, "tone": tone}


SCENES: list[dict[str, Any]] = [
    {"code": "clearings", "movements": ["arrival", "release"], "moods": ["clear", "hushed"],
     "cues": [_play("fresh", "light", "clear", 950), _play("fresh", "medium", "clear", 1600),
              _pause(2600, "sparse")]},
    {"code": "weathered_cluster", "movements": ["weathering"],
     "moods": ["weathered", "suspended"],
     "cues": [_play("worn", "medium", "weathered", 1600),
              _play("worn", "dense", "weathered", 2500), _pause(3600, "sparse")]},
    {"code": "suspension", "movements": ["arrival", "weathering"],
     "moods": ["suspended", "hushed"],
     "cues": [_play("mid", "medium", "suspended", 1850), _pause(2200, "idle"),
              _play("worn", "light", "hushed", 2100)]},
    {"code": "gathering", "movements": ["gathering"],
     "moods": ["gathering", "clear", "suspended"],
     "cues": [_play("fresh", "medium", "clear", 1050), _play("any", "dense", "gathering", 1550),
              _play("mid", "medium", "suspended", 2200)]},
    {"code": "hushed_drift", "movements": ["arrival", "release"], "moods": ["hushed", "clear"],
     "cues": [_play("mid", "light", "hushed", 1200), _pause(2800, "sparse"),
              _play("fresh", "light", "clear", 1700)]},
    {"code": "afterimage", "movements": ["weathering", "release"],
     "moods": ["weathered", "hushed", "suspended"],
     "cues": [_play("worn", "light", "weathered", 1700),
              _play("mid", "medium", "suspended", 2500), _pause(3400, "sparse")]},
]

# preferred_moods .. dense_after_mood: upstream names them without values; these follow
# each movement's scenes (the sequencer's density recovery and mood hand-offs).
MOVEMENTS: list[dict[str, Any]] = [
    {"code": "arrival", "min_items": 2, "max_items": 3, "gap_multiplier": 1.15,
     "scenes": ["clearings", "hushed_drift", "suspension"],
     "preferred_moods": ["clear", "hushed"], "default_density": "light",
     "dense_release_density": "light", "light_recovery_density": "medium",
     "clear_release_mood": "hushed", "dense_after_mood": "suspended"},
    {"code": "gathering", "min_items": 3, "max_items": 4, "gap_multiplier": 0.82,
     "scenes": ["gathering", "suspension"],
     "preferred_moods": ["gathering", "clear", "suspended"], "default_density": "medium",
     "dense_release_density": "medium", "light_recovery_density": "dense",
     "clear_release_mood": "gathering", "dense_after_mood": "suspended"},
    {"code": "weathering", "min_items": 2, "max_items": 4, "gap_multiplier": 1.12,
     "scenes": ["weathered_cluster", "afterimage", "suspension"],
     "preferred_moods": ["weathered", "suspended"], "default_density": "medium",
     "dense_release_density": "light", "light_recovery_density": "medium",
     "clear_release_mood": "suspended", "dense_after_mood": "hushed"},
    {"code": "release", "min_items": 2, "max_items": 3, "gap_multiplier": 1.28,
     "scenes": ["clearings", "hushed_drift", "afterimage"],
     "preferred_moods": ["hushed", "clear"], "default_density": "light",
     "dense_release_density": "light", "light_recovery_density": "light",
     "clear_release_mood": "hushed", "dense_after_mood": "hushed"},
]

DAYPARTS: list[dict[str, Any]] = [
    {"code": "morning", "start_hour": 6, "end_hour": 12, "intensity": "quiet",
     "movement_preset": "meditative"},
    {"code": "afternoon", "start_hour": 12, "end_hour": 17, "intensity": "balanced",
     "movement_preset": "balanced"},
    {"code": "evening", "start_hour": 17, "end_hour": 22, "intensity": "active",
     "movement_preset": "balanced"},
    {"code": "night", "start_hour": 22, "end_hour": 6, "intensity": "quiet",
     "movement_preset": "meditative"},
]

TONE_PROFILES: dict[str, dict[str, float]] = {
    "soft_air": {"highpass_hz": 110, "lowpass_hz": 980, "lfo_hz": 0.025, "lfo_depth_hz": 65},
    "warm_hiss": {"highpass_hz": 160, "lowpass_hz": 1550, "lfo_hz": 0.018,
                  "lfo_depth_hz": 120},
    "low_vent": {"highpass_hz": 55, "lowpass_hz": 540, "lfo_hz": 0.012, "lfo_depth_hz": 28},
}
TONE_GAINS = {"idle": 0.011, "sparse": 0.017, "duck": 0.002}
TONE_FADE_S = 1.25

SCARCITY_TIERS: list[dict[str, Any]] = [
    {"code": "normal", "gap": 1.0, "pause": 1.0, "tone": 1.0},
    {"code": "thin", "gap": 1.35, "pause": 1.55, "tone": 1.2},
    {"code": "scarce", "gap": 1.8, "pause": 2.1, "tone": 1.45},
]

# the first tier whose min_pool_size the pool reaches; an empty pool has none (factor 1.0)
ARCHIVE_GAP_TIERS: list[dict[str, Any]] = [
    {"min_pool_size": 40, "multiplier": 0.76}, {"min_pool_size": 24, "multiplier": 0.88},
    {"min_pool_size": 12, "multiplier": 0.96}, {"min_pool_size": 8, "multiplier": 1.05},
    {"min_pool_size": 1, "multiplier": 1.18},
]

QUIETER_MODE = {"gap_multiplier": 1.18, "tone_multiplier": 0.72,
                "output_gain_multiplier": 0.74, "overlap_chance_multiplier": 0.45}
QUIET_HOURS_OVERLAP_CHANCE_MULTIPLIER = 0.45

POLICY: dict[str, Any] = {
    "history": {"density": 4, "scene": 3, "loop": 6},
    "sequencer": {"weathered_release_threshold": 2, "clear_release_threshold": 2,
                  "mood_bias_hold_chance": 0.72, "mood_bias_recent_limit": 2},
}


def _anti_repetition(s: Settings, profile: deployments.Deployment) -> int:
    """ROOM_ANTI_REPETITION_WINDOW_SIZE when the env (or profile) set it, else the
    deployment's window (memory: 12, the same as the setting's default)."""
    if "room_anti_repetition_window_size" in s.model_fields_set:
        return s.room_anti_repetition_window_size
    return profile.anti_repetition


# The even-loudness rule the page applies (docs/loudness.md): per take
# gain_db = clamp(target - loudness_lufs, -max_cut_db, +max_boost_db) (unmeasured: 0 dB),
# then one limiter on the mix, then the master gain (room_volume x pacing output).
LOUDNESS = {"max_boost_db": 18.0, "max_cut_db": 24.0, "unmeasured_gain_db": 0.0,
            "floor_lufs": -70.0,
            "limiter": {"threshold_db": -3.0, "knee_db": 0.0, "ratio": 20.0,
                        "attack_s": 0.003, "release_s": 0.25},
            "volume_ramp_s": 0.3}


def gain_db(comp: dict[str, Any], loudness_lufs: float | None) -> float:
    """The reference arithmetic of a take's loudness gain in dB (the page mirrors it)."""
    rule = comp["loudness"]
    if loudness_lufs is None:
        return float(rule["unmeasured_gain_db"])
    wanted = rule["target_lufs"] - loudness_lufs
    return float(max(-rule["max_cut_db"], min(rule["max_boost_db"], wanted)))


def build(s: Settings) -> dict[str, Any]:
    """The composition for these settings (a fresh dict; callers may keep it)."""
    dep = deployments.get(s.engine_deployment)
    zone = s.zone()
    return {
        "version": VERSION,
        "installation_profile": s.installation_profile,
        "deployment": {"code": dep.code, "cue_gap": dep.cue_gap, "pause_gap": dep.pause_gap,
                       "tone": dep.tone, "overlap": dep.overlap},
        "intensity": {"default": s.room_intensity_profile,
                      "profiles": {k: dict(v) for k, v in INTENSITY_PROFILES.items()}},
        "movement_preset": {"default": s.room_movement_preset,
                            "presets": {k: dict(v) for k, v in MOVEMENT_PRESETS.items()}},
        "scenes": [{**sc, "movements": list(sc["movements"]), "moods": list(sc["moods"]),
                    "cues": [dict(c) for c in sc["cues"]]} for sc in SCENES],
        "movements": [{**m, "scenes": list(m["scenes"]),
                       "preferred_moods": list(m["preferred_moods"])} for m in MOVEMENTS],
        "dayparts": {"enabled": s.room_daypart_enabled, "timezone": zone.key,
                     "items": [dict(d) for d in DAYPARTS]},
        "quiet_hours": {"enabled": s.room_quiet_hours_enabled,
                        "start_hour": s.room_quiet_hours_start_hour,
                        "end_hour": s.room_quiet_hours_end_hour,
                        "gap_multiplier": s.room_quiet_hours_gap_multiplier,
                        "tone_multiplier": s.room_quiet_hours_tone_multiplier,
                        "output_gain_multiplier": s.room_quiet_hours_output_gain_multiplier,
                        "overlap_chance_multiplier": QUIET_HOURS_OVERLAP_CHANCE_MULTIPLIER},
        "tone": {"profile": s.room_tone_profile, "source_mode": s.room_tone_source_mode,
                 "source_url": s.room_tone_source_url,
                 "profiles": {k: dict(v) for k, v in TONE_PROFILES.items()},
                 "gains": dict(TONE_GAINS), "fade_s": TONE_FADE_S},
        "overlap": {"chance": s.room_overlap_chance,
                    "min_pool_size": s.room_overlap_min_pool_size,
                    "max_layers": s.room_overlap_max_layers,
                    "min_delay_ms": s.room_overlap_min_delay_ms,
                    "max_delay_ms": s.room_overlap_max_delay_ms,
                    "gain_multiplier": s.room_overlap_gain_multiplier,
                    "density_limit": "medium"},
        "scarcity": {"enabled": s.room_scarcity_enabled,
                     "low_threshold": s.room_scarcity_low_threshold,
                     "severe_threshold": s.room_scarcity_severe_threshold,
                     "tiers": [dict(t) for t in SCARCITY_TIERS]},
        "archive_gap_tiers": [dict(t) for t in ARCHIVE_GAP_TIERS],
        "quieter_mode": dict(QUIETER_MODE),
        "loudness": {"target_lufs": s.room_loudness_target_lufs, **LOUDNESS,
                     "limiter": dict(LOUDNESS["limiter"])},  # type: ignore[call-overload]
        "source_slice": {"max_seconds": s.room_source_slice_max_seconds,
                         "revolution_seconds": s.room_source_slice_revolution_seconds},
        "fossil_visuals": {"enabled": s.room_fossil_visuals_enabled, "refresh_ms": 18000,
                           "max_items": 12},
        "policy": {"anti_repetition_window_size": _anti_repetition(s, dep),
                   "history": dict(POLICY["history"]),
                   "sequencer": dict(POLICY["sequencer"])},
    }


def encoded(res: Resources) -> bytes:
    """`build(res.settings)` as the JSON bytes the route sends, built once per process (the
    settings never change while it runs), so serving the composition costs no encoding."""
    held = res.extras.get("room.composition")
    if not isinstance(held, tuple) or held[0] is not res.settings:
        body = json.dumps(build(res.settings), ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode()
        held = res.extras["room.composition"] = (res.settings, body)
    data: bytes = held[1]
    return data


def _in_hours(hour: int, start: int, end: int) -> bool:
    """`start <= hour < end`, wrapping midnight when end <= start (22 -> 6)."""
    return start <= hour < end if start < end else hour >= start or hour < end


def daypart(comp: dict[str, Any], when: datetime) -> dict[str, Any] | None:
    """The daypart at `when` (any aware datetime; read in the composition's zone), or None
    when dayparts are off."""
    parts = comp["dayparts"]
    if not parts["enabled"]:
        return None
    hour = when.astimezone(ZoneInfo(parts["timezone"])).hour
    return next((d for d in parts["items"]
                 if _in_hours(hour, d["start_hour"], d["end_hour"])), None)


def quiet_hours_active(comp: dict[str, Any], when: datetime) -> bool:
    q = comp["quiet_hours"]
    if not q["enabled"]:
        return False
    hour = when.astimezone(ZoneInfo(comp["dayparts"]["timezone"])).hour
    return _in_hours(hour, q["start_hour"], q["end_hour"])


@dataclass(frozen=True, slots=True)
class Pacing:
    """The room's factors at one moment: cue gap, pause gap, room-tone gain, output gain,
    overlap chance (absolute, 0..1), and the intensity / preset / scarcity tier in force."""

    intensity: str
    movement_preset: str
    scarcity: str
    cue_gap: float
    pause_gap: float
    tone: float
    output: float
    overlap_chance: float


def scarcity_tier(comp: dict[str, Any], pool_size: int) -> str:
    sc = comp["scarcity"]
    if not sc["enabled"]:
        return "normal"
    if pool_size <= sc["severe_threshold"]:
        return "scarce"
    if pool_size <= sc["low_threshold"]:
        return "thin"
    return "normal"


def archive_gap(comp: dict[str, Any], pool_size: int) -> float:
    for tier in comp["archive_gap_tiers"]:
        if pool_size >= tier["min_pool_size"]:
            return float(tier["multiplier"])
    return 1.0


def pacing(comp: dict[str, Any], when: datetime, *, pool_size: int,
           quieter_mode: bool = False) -> Pacing:
    """Multiply the layers in this order: intensity (the daypart's, else the setting) x
    movement preset (gaps) x deployment x scarcity tier x archive gap (gaps) x quiet hours
    x quieter mode. Overlap chance: the setting x deployment x 0.45 in quiet hours x 0.45 in
    quieter mode, and 0 below `overlap.min_pool_size`."""
    part = daypart(comp, when)
    intensity = part["intensity"] if part else comp["intensity"]["default"]
    preset = part["movement_preset"] if part else comp["movement_preset"]["default"]
    inten = comp["intensity"]["profiles"][intensity]
    move = comp["movement_preset"]["presets"][preset]
    dep = comp["deployment"]
    tier_code = scarcity_tier(comp, pool_size)
    tier = next(t for t in comp["scarcity"]["tiers"] if t["code"] == tier_code)
    arch = archive_gap(comp, pool_size)
    cue = inten["cue_gap"] * move["gap_multiplier"] * dep["cue_gap"] * tier["gap"] * arch
    pause = inten["pause_gap"] * move["gap_multiplier"] * dep["pause_gap"] * tier["pause"] * arch
    tone = inten["tone"] * dep["tone"] * tier["tone"]
    output = 1.0
    chance = comp["overlap"]["chance"] * dep["overlap"]
    if quiet_hours_active(comp, when):
        q = comp["quiet_hours"]
        cue *= q["gap_multiplier"]
        pause *= q["gap_multiplier"]
        tone *= q["tone_multiplier"]
        output *= q["output_gain_multiplier"]
        chance *= q["overlap_chance_multiplier"]
    if quieter_mode:
        qm = comp["quieter_mode"]
        cue *= qm["gap_multiplier"]
        pause *= qm["gap_multiplier"]
        tone *= qm["tone_multiplier"]
        output *= qm["output_gain_multiplier"]
        chance *= qm["overlap_chance_multiplier"]
    if pool_size < comp["overlap"]["min_pool_size"]:
        chance = 0.0
    return Pacing(intensity, preset, tier_code, cue, pause, tone, output, min(1.0, chance))
