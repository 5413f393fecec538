"""Settings: defaults, installation profiles, and one clear line per bad variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rooms.config import load_settings
from rooms.errors import ConfigError


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.wear_epsilon_per_play == 0.005
    assert s.resolved_database_url == "sqlite+aiosqlite:///var/rooms.db"
    assert s.resolved_blob_store_url.startswith("file://") and s.embedded
    assert (s.public_ingest_rate, s.raw_ttl_hours_room, s.derivative_ttl_days_fossil) == (
        "180/hour", 48, 365)
    assert (s.noise_min_interval, s.noise_max_interval, s.live_token_ttl_s) == (0.8, 2.4, 60)


def test_profile_fills_gaps_but_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTALLATION_PROFILE", "active_exhibit")
    monkeypatch.setenv("ROOM_OVERLAP_CHANCE", "0.05")
    s = load_settings()
    assert s.room_tone_profile == "warm_hiss"
    assert (s.room_scarcity_low_threshold, s.room_scarcity_severe_threshold) == (8, 4)
    assert s.room_overlap_chance == 0.05  # explicit env beats the profile's 0.18
    quiet = load_settings(installation_profile="quiet_gallery")
    assert (quiet.room_quiet_hours_start_hour, quiet.room_source_slice_max_seconds) == (20, 35)


@pytest.mark.parametrize(
    ("env", "value", "names"),
    [
        ("WEAR_EPSILON_PER_PLAY", "0", "WEAR_EPSILON_PER_PLAY"),
        ("INGEST_MAX_DURATION_SECONDS", "900", "INGEST_MAX_DURATION_SECONDS"),
        ("INSTALLATION_PROFILE", "loud_club", "INSTALLATION_PROFILE"),
        ("POOL_WORN_MIN_AGE_HOURS", "4", "POOL_WORN_MIN_AGE_HOURS"),
        ("ROOM_SCARCITY_SEVERE_THRESHOLD", "9", "ROOM_SCARCITY_SEVERE_THRESHOLD"),
        ("OPS_QUEUE_DEPTH_WARNING", "50", "OPS_QUEUE_DEPTH_WARNING"),
        ("ROOM_OVERLAP_MIN_DELAY_MS", "900", "ROOM_OVERLAP_MIN_DELAY_MS"),
        ("OPS_ALLOWED_NETWORKS", "10.0.0.0/8,not-a-net", "OPS_ALLOWED_NETWORKS"),
        ("TRUSTED_PROXIES", "127.0.0.1/32,caddy", "TRUSTED_PROXIES"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL"),
        ("BLOB_STORE_URL", "ftp://blobs", "BLOB_STORE_URL"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL"),
        ("PUBLIC_INGEST_RATE", "lots", "PUBLIC_INGEST_RATE"),
        ("NOISE_MODE", "poetry", "NOISE_MODE"),
        ("OPS_SESSION_BINDING_MODE", "cookie", "OPS_SESSION_BINDING_MODE"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: str, value: str,
                                      names: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert names in message
    assert "\n" not in message


def test_postgres_requires_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:1/db")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings()


def test_postgres_requires_an_operator_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:1/db")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == ("invalid setting OPS_SHARED_SECRET is required with a "
                               "PostgreSQL DATABASE_URL (production)")
    monkeypatch.setenv("OPS_SHARED_SECRET", "an operator secret")
    assert load_settings().ops_shared_secret.get_secret_value() == "an operator secret"


def test_cli_stops_with_one_line(tmp_path: Path) -> None:
    rooms = Path(sys.executable).parent / "rooms"
    proc = subprocess.run([str(rooms), "migrate"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin",
                                             "WEAR_EPSILON_PER_PLAY": "2"}, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rooms: invalid setting WEAR_EPSILON_PER_PLAY")
