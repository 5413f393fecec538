"""GET /api/v1/room/composition: the room composer's configuration, profile applied."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rooms.config import Settings, load_settings
from rooms.errors import ConfigError
from rooms.playback import composition
from rooms.playback.composition import pacing

NOON = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)  # afternoon in UTC


def comp(**overrides: Any) -> dict[str, Any]:
    return composition.build(load_settings(**{"secret_key": "x" * 40, "timezone": "UTC",
                                              **overrides}))


async def test_the_room_reads_its_composition(client: httpx.AsyncClient,
                                              settings: Settings) -> None:
    resp = await client.get("/api/v1/room/composition")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "public, max-age=60"
    body = resp.json()
    assert body == composition.build(settings)
    assert [s["code"] for s in body["scenes"]] == [
        "clearings", "weathered_cluster", "suspension", "gathering", "hushed_drift",
        "afterimage"]
    assert {m["code"]: (m["min_items"], m["max_items"]) for m in body["movements"]} == {
        "arrival": (2, 3), "gathering": (3, 4), "weathering": (2, 4), "release": (2, 3)}
    for scene in body["scenes"]:  # every movement's scene exists, and back
        for movement in scene["movements"]:
            assert scene["code"] in next(m for m in body["movements"]
                                         if m["code"] == movement)["scenes"]


def test_defaults_follow_the_reference() -> None:
    c = comp()
    assert c["installation_profile"] == "custom"
    assert c["intensity"]["default"] == "balanced"
    assert c["intensity"]["profiles"]["quiet"] == {"cue_gap": 1.24, "pause_gap": 1.35,
                                                   "tone": 1.15}
    assert c["tone"]["profile"] == "soft_air" and c["tone"]["gains"]["sparse"] == 0.017
    assert (c["overlap"]["chance"], c["overlap"]["max_layers"]) == (0.1, 2)
    assert (c["scarcity"]["low_threshold"], c["scarcity"]["severe_threshold"]) == (6, 3)
    assert c["quieter_mode"] == {"gap_multiplier": 1.18, "tone_multiplier": 0.72,
                                 "output_gain_multiplier": 0.74,
                                 "overlap_chance_multiplier": 0.45}
    assert c["policy"]["anti_repetition_window_size"] == 12
    assert c["dayparts"]["timezone"] == "UTC"
    assert c["deployment"] == {"code": "memory", "cue_gap": 1.0, "pause_gap": 1.0,
                               "tone": 1.0, "overlap": 1.0}


def test_the_installation_profile_applies_and_env_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = comp(installation_profile="quiet_gallery")
    assert (quiet["intensity"]["default"], quiet["movement_preset"]["default"]) == (
        "quiet", "meditative")
    assert quiet["quiet_hours"]["enabled"] and (
        quiet["quiet_hours"]["start_hour"], quiet["quiet_hours"]["end_hour"]) == (20, 8)
    assert quiet["source_slice"] == {"max_seconds": 35, "revolution_seconds": 360}
    active = comp(installation_profile="active_exhibit")
    assert active["tone"]["profile"] == "warm_hiss"
    assert (active["overlap"]["max_layers"], active["overlap"]["min_delay_ms"]) == (3, 140)
    assert active["fossil_visuals"]["enabled"]
    monkeypatch.setenv("INSTALLATION_PROFILE", "active_exhibit")
    monkeypatch.setenv("ROOM_TONE_PROFILE", "low_vent")
    monkeypatch.setenv("ROOM_OVERLAP_MAX_LAYERS", "1")
    env = composition.build(load_settings(secret_key="x" * 40))
    assert env["installation_profile"] == "active_exhibit"
    assert env["tone"]["profile"] == "low_vent" and env["overlap"]["max_layers"] == 1
    assert env["scarcity"]["low_threshold"] == 8  # the profile's, not overridden


def test_a_deployment_brings_its_pacing_and_window() -> None:
    oracle = comp(engine_deployment="oracle")
    assert oracle["deployment"] == {"code": "oracle", "cue_gap": 1.45, "pause_gap": 1.7,
                                    "tone": 1.14, "overlap": 0.18}
    assert oracle["policy"]["anti_repetition_window_size"] == 18
    assert comp(engine_deployment="oracle", room_anti_repetition_window_size=4)[
        "policy"]["anti_repetition_window_size"] == 4  # an explicit setting wins


def test_timezone_names_the_dayparts() -> None:
    c = comp(timezone="America/Mexico_City")
    assert c["dayparts"]["timezone"] == "America/Mexico_City"
    # 12:30 UTC is 06:30 in Mexico City: morning there, afternoon in UTC
    assert composition.daypart(c, NOON)["code"] == "morning"  # type: ignore[index]
    assert composition.daypart(comp(), NOON)["code"] == "afternoon"  # type: ignore[index]
    late = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    assert composition.daypart(comp(), late)["code"] == "night"  # type: ignore[index]
    assert composition.daypart(comp(room_daypart_enabled=False), NOON) is None
    with pytest.raises(ConfigError, match="TIMEZONE"):
        load_settings(secret_key="x" * 40, timezone="Mars/Olympus")


def test_the_quieter_mode_overlay_stretches_gaps_and_lowers_the_room() -> None:
    c = comp()
    plain = pacing(c, NOON, pool_size=30)
    quieter = pacing(c, NOON, pool_size=30, quieter_mode=True)
    assert quieter.cue_gap == pytest.approx(plain.cue_gap * 1.18)
    assert quieter.pause_gap == pytest.approx(plain.pause_gap * 1.18)
    assert quieter.tone == pytest.approx(plain.tone * 0.72)
    assert (plain.output, quieter.output) == (1.0, pytest.approx(0.74))
    assert quieter.overlap_chance == pytest.approx(plain.overlap_chance * 0.45)
    # quiet hours and quieter mode stack
    night = comp(room_quiet_hours_enabled=True)
    late = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    both = pacing(night, late, pool_size=30, quieter_mode=True)
    assert both.output == pytest.approx(0.72 * 0.74)
    assert both.overlap_chance == pytest.approx(0.1 * 0.45 * 0.45)


def test_scarcity_and_archive_gap_tiers_scale_the_gaps() -> None:
    c = comp(room_daypart_enabled=False)
    big, thin, scarce = (pacing(c, NOON, pool_size=n) for n in (50, 5, 2))
    assert (big.scarcity, thin.scarcity, scarce.scarcity) == ("normal", "thin", "scarce")
    assert big.cue_gap == pytest.approx(0.76)
    assert thin.cue_gap == pytest.approx(1.35 * 1.18)
    assert scarce.pause_gap == pytest.approx(2.1 * 1.18)
    assert scarce.overlap_chance == 0.0  # below ROOM_OVERLAP_MIN_POOL_SIZE
    off = comp(room_daypart_enabled=False, room_scarcity_enabled=False)
    assert pacing(off, NOON, pool_size=2).scarcity == "normal"


def test_the_loudness_rule_meets_the_target_within_its_caps() -> None:
    """docs/loudness.md: gain = target - loudness, at most +18 dB and -24 dB; unmeasured 0."""
    c = comp()
    assert c["loudness"]["target_lufs"] == -23.0
    assert c["loudness"]["limiter"]["threshold_db"] == -3.0
    assert composition.gain_db(c, -31.0) == 8.0
    assert composition.gain_db(c, -14.5) == -8.5
    assert composition.gain_db(c, -70.0) == 18.0  # a silent take is not raised into hiss
    assert composition.gain_db(c, 3.0) == -24.0
    assert composition.gain_db(c, None) == 0.0
    louder = comp(room_loudness_target_lufs=-18)
    assert composition.gain_db(louder, -31.0) == 13.0
    with pytest.raises(ConfigError):
        load_settings(room_loudness_target_lufs=-3)
