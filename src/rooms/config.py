"""One settings class: every env name of the contract, installation profiles, validation.

Env names are the field names upper-cased (pydantic-settings is case-insensitive here), so
`RAW_TTL_HOURS_ROOM` sets `settings.raw_ttl_hours_room`. An installation profile fills in
values that the environment did not set; an explicit env var always wins.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rooms.errors import ConfigError
from rooms.kit.clients import Network, parse_networks

ProfileName = Literal["custom", "quiet_gallery", "shared_lab", "active_exhibit"]

PROFILES: dict[str, dict[str, Any]] = {
    "custom": {},
    "quiet_gallery": {
        "kiosk_default_max_recording_seconds": 120,
        "room_intensity_profile": "quiet",
        "room_movement_preset": "meditative",
        "room_daypart_enabled": True,
        "room_quiet_hours_enabled": True,
        "room_quiet_hours_start_hour": 20,
        "room_quiet_hours_end_hour": 8,
        "room_quiet_hours_gap_multiplier": 1.3,
        "room_quiet_hours_tone_multiplier": 0.74,
        "room_quiet_hours_output_gain_multiplier": 0.68,
        "room_tone_profile": "soft_air",
        "room_source_slice_max_seconds": 35,
        "room_source_slice_revolution_seconds": 360,
        "room_overlap_chance": 0.06,
        "room_overlap_max_layers": 2,
        "room_fossil_visuals_enabled": False,
    },
    "shared_lab": {
        "kiosk_default_max_recording_seconds": 180,
        "room_intensity_profile": "balanced",
        "room_movement_preset": "balanced",
        "room_daypart_enabled": True,
        "room_quiet_hours_enabled": False,
        "room_tone_profile": "soft_air",
        "room_source_slice_max_seconds": 45,
        "room_source_slice_revolution_seconds": 300,
        "room_overlap_chance": 0.12,
        "room_overlap_max_layers": 2,
        "room_fossil_visuals_enabled": True,
    },
    "active_exhibit": {
        "kiosk_default_max_recording_seconds": 120,
        "room_intensity_profile": "active",
        "room_movement_preset": "active",
        "room_quiet_hours_enabled": False,
        "room_tone_profile": "warm_hiss",
        "room_scarcity_low_threshold": 8,
        "room_scarcity_severe_threshold": 4,
        "room_source_slice_max_seconds": 30,
        "room_source_slice_revolution_seconds": 180,
        "room_overlap_chance": 0.18,
        "room_overlap_max_layers": 3,
        "room_overlap_min_delay_ms": 140,
        "room_overlap_max_delay_ms": 420,
        "room_fossil_visuals_enabled": True,
    },
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # --- deployment -----------------------------------------------------------------
    var_dir: Path = Path("var")
    database_url: str = ""
    blob_store_url: str = ""
    s3_endpoint_url: str = ""
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_region: str = "us-east-1"
    redis_url: str = ""
    # keys per map of the process-local store (budgets, lockout counters, used tokens):
    # full -> least recently used window/counter forgotten, new used-token mark refused
    store_memory_max_keys: int = Field(50_000, ge=1_000)
    # PostgreSQL connections per process: pool_size kept open, max_overflow more under load.
    # (N api + M workers) x (both) + reserve must fit the server's max_connections
    # (README "Connection budget"); SQLite ignores both.
    database_pool_size: int = Field(5, ge=1, le=100)
    database_max_overflow: int = Field(5, ge=0, le=100)
    secret_key: SecretStr = SecretStr("")
    installation_profile: ProfileName = "custom"
    engine_deployment: Literal["memory", "question", "prompt", "repair", "witness", "oracle"] = (
        "memory"
    )
    orchestrator_tasks_path: Path = Path("orchestrator_tasks.yml")
    timezone: str = ""  # IANA name for dayparts, quiet hours, opening hours; "": the host's
    node_name: str = "Room Memory Node"
    node_location_hint: str = ""
    allowed_hosts: str = "localhost,127.0.0.1"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # A write on SQLite without the process's write slot: logged ("log"), or an error
    # ("raise", what the test suite runs with, so a path that forgets the slot fails).
    db_write_guard: Literal["off", "log", "raise"] = "log"

    # --- the embedded server's limits (rooms.serving, rooms.limits; README "Reliability") -
    server_limit_concurrency: int = Field(4096, ge=16)  # open connections (clamped to fds)
    server_backlog: int = Field(2048, ge=1)  # the listen queue
    server_header_timeout_seconds: float = Field(10.0, gt=0)  # else 408, connection closed
    server_body_idle_timeout_seconds: float = Field(20.0, gt=0)  # no body byte for this: 408
    ingest_max_concurrent_uploads: int = Field(64, ge=1)  # more at once: 503 uploads_busy

    # --- jobs -------------------------------------------------------------------------
    job_timeout_s: float = Field(300.0, gt=0)
    job_max_tries: int = Field(3, ge=1, le=20)
    job_queue_size: int = Field(1000, ge=1)
    job_poll_delay_s: float = Field(0.05, gt=0, le=5)
    # reserved for the derivatives issue (#20): the retention crons' intervals
    expire_raw_interval_s: int = Field(600, ge=10)
    prune_derivatives_interval_s: int = Field(3600, ge=10)
    derivative_render_workers: int = Field(1, ge=1, le=16)
    derivative_render_timeout_s: float = Field(120.0, gt=0)
    orphan_sweep_days: int = Field(2, ge=1, le=60)
    # audit data kept (days; 0 keeps it forever), pruned by the `prune_audit` cron
    access_event_retention_days: int = Field(90, ge=0)
    steward_action_retention_days: int = Field(365, ge=0)
    # where removals are recorded for `rooms restore` (rooms/recordings/ledger.py); empty:
    # VAR_DIR/revocations.jsonl with file blobs, s3://BUCKET/ledger/revocations/ with S3
    revocation_ledger_url: str = ""
    # SQLite's `synchronous` pragma (README "Durability"): FULL survives a power loss with
    # every answered commit; NORMAL may lose the last commits (never corrupts)
    sqlite_synchronous: Literal["NORMAL", "FULL", "EXTRA"] = "FULL"
    heartbeat_interval_s: int = Field(60, ge=1)

    # --- tokens and ingest ------------------------------------------------------------
    media_access_token_ttl_seconds: int = Field(900, ge=10)
    # NOSAVE: how long the first listener may fetch (probe, buffer, seek) the take. At most
    # 5 min, so the take's blob is gone before the orphan sweep's grace would judge it.
    nosave_listen_window_s: int = Field(60, ge=5, le=300)
    surface_access_token_ttl_seconds: int = Field(86400, ge=60)  # reserved: #20, fossil images
    ingest_max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    ingest_max_duration_seconds: int = Field(300, ge=30, le=600)
    # the kiosk (README, "The kiosk"): its language and longest take before the steward sets them
    kiosk_default_language_code: Literal["en", "es_mx_ca"] = "en"
    kiosk_default_max_recording_seconds: int = Field(120, ge=30, le=300)
    # the kiosk page's pacing (seconds): the mic check before arming, the countdown before
    # recording, how long a review waits before it resets to the attract screen
    kiosk_mic_check_seconds: float = Field(1.5, ge=0, le=10)
    kiosk_countdown_seconds: float = Field(3.0, ge=0, le=10)
    kiosk_review_timeout_seconds: int = Field(90, ge=10, le=900)
    public_ingest_rate: str = "180/hour"
    public_ingest_ip_rate: str = "600/hour"
    public_revoke_rate: str = "30/hour"
    public_revoke_ip_rate: str = "120/hour"

    # --- wear, pool, retention --------------------------------------------------------
    wear_epsilon_per_play: float = Field(0.005, gt=0, le=1)
    pool_play_cooldown_seconds: int = Field(90, ge=0)
    pool_candidate_limit: int = Field(40, ge=1)
    pool_fresh_max_age_hours: float = 8.0
    pool_fresh_max_wear: float = Field(0.18, ge=0, le=1)
    pool_fresh_max_play_count: int = Field(2, ge=0)
    pool_worn_min_age_hours: float = 18.0
    pool_worn_min_wear: float = Field(0.38, ge=0, le=1)
    pool_worn_min_play_count: int = Field(5, ge=0)
    pool_featured_return_min_age_hours: float = 168.0
    pool_featured_return_min_absence_hours: float = 96.0
    pool_featured_return_boost: float = 1.45
    pool_density_cluster_penalty: float = 0.62
    pool_density_release_boost: float = 1.18
    raw_ttl_hours_room: float = Field(48, gt=0)
    raw_ttl_hours_fossil: float = Field(48, gt=0)
    derivative_ttl_days_fossil: float = Field(365, gt=0)

    # --- ops --------------------------------------------------------------------------
    ops_shared_secret: SecretStr = SecretStr("")
    ops_session_ttl_seconds: int = Field(43200, ge=60)
    ops_allowed_networks: str = ""
    trusted_proxies: str = "127.0.0.1/32,::1/128"  # whose X-Forwarded-For/-Proto count
    ops_session_binding_mode: Literal["strict", "user_agent", "none"] = "user_agent"
    ops_session_cookie_secure: bool = False  # Secure even on plain http (https always is)
    ops_login_lockout_scope: Literal["ip", "ip_user_agent"] = "ip_user_agent"
    ops_login_max_attempts: int = Field(6, ge=1)
    ops_login_ip_max_attempts: int = Field(30, ge=1)  # per IP, whatever the user agent
    ops_login_lockout_seconds: int = Field(900, ge=1)
    ops_worker_heartbeat_max_age_seconds: int = 180
    # reserved for the dashboard issue (#24)
    ops_beat_heartbeat_max_age_seconds: int = 180
    ops_throttle_event_window_seconds: int = 3600
    ops_queue_depth_warning: int = 12
    ops_queue_depth_critical: int = 40
    ops_task_failure_window_seconds: int = 1800
    ops_storage_path: str = "/"
    ops_disk_warning_free_gb: float = 8.0
    ops_disk_warning_free_percent: float = 15.0
    ops_disk_critical_free_gb: float = 3.0
    ops_disk_critical_free_percent: float = 8.0
    ops_pool_low_count: int = 6
    ops_pool_imbalance_ratio: float = 0.72
    ops_retention_soon_hours: float = 24
    ops_status_push_s: float = Field(5.0, ge=0)  # node status to /ws/ops this often; 0: off
    # --- issue 24: alerts, moderation, devices (docs/ops.md) ---------------------------
    alert_webhook_url: str = ""  # alerts POSTed here as JSON; "": no alerts
    alert_room_silent_s: float = Field(600, gt=0)  # no acknowledged play for this long
    moderation: Literal["off", "hold"] = "off"  # hold: new takes wait for approval
    device_gone_s: float = Field(60, gt=0)  # a device not seen for this long is gone

    # --- room loop (GET /api/v1/room/composition, rooms.playback.composition) ---------
    room_intensity_profile: Literal["quiet", "balanced", "active"] = "balanced"
    room_movement_preset: Literal["meditative", "balanced", "active"] = "balanced"
    room_daypart_enabled: bool = True
    room_quiet_hours_enabled: bool = False
    room_quiet_hours_start_hour: int = Field(22, ge=0, le=23)
    room_quiet_hours_end_hour: int = Field(6, ge=0, le=23)
    room_quiet_hours_gap_multiplier: float = Field(1.2, gt=0)
    room_quiet_hours_tone_multiplier: float = Field(0.78, gt=0)
    room_quiet_hours_output_gain_multiplier: float = Field(0.72, gt=0)
    room_tone_profile: Literal["soft_air", "warm_hiss", "low_vent"] = "soft_air"
    room_tone_source_mode: Literal["synthetic", "site_ambience"] = "synthetic"
    room_tone_source_url: str = ""
    room_scarcity_enabled: bool = True
    room_scarcity_low_threshold: int = Field(6, ge=0)
    room_scarcity_severe_threshold: int = Field(3, ge=0)
    room_anti_repetition_window_size: int = Field(12, ge=0, le=50)
    room_source_slice_max_seconds: int = Field(45, ge=5, le=120)
    room_source_slice_revolution_seconds: int = Field(300, ge=1)
    room_overlap_chance: float = Field(0.1, ge=0, le=1)
    room_overlap_min_pool_size: int = Field(6, ge=0)
    room_overlap_max_layers: int = Field(2, ge=1)
    room_overlap_min_delay_ms: int = Field(180, ge=0)
    room_overlap_max_delay_ms: int = Field(520, ge=0)
    room_overlap_gain_multiplier: float = Field(0.68, gt=0)
    room_fossil_visuals_enabled: bool = False
    # every take plays at this integrated loudness (docs/loudness.md; EBU R128's -23)
    room_loudness_target_lufs: float = Field(-23.0, ge=-36, le=-14)

    # --- live websocket ---------------------------------------------------------------
    live_token_ttl_s: int = Field(60, ge=1, le=3600)
    live_send_timeout_s: float = Field(10.0, gt=0)
    live_queue_size: int = Field(256, ge=1)
    live_heartbeat_s: float = Field(20.0, gt=0)
    live_max_message_bytes: int = Field(64 * 1024, ge=256)
    live_messages_per_s: float = Field(20.0, gt=0)
    live_count_ttl_s: float = Field(15.0, gt=0)

    # --- supervisor and streams (seeds 000 and 002) -----------------------------------
    # with Redis: the stream leader's lock lifetime (s); renewed every TTL/3, the leader
    # fences itself at TTL/2 without a renewal, a follower takes over within TTL
    leader_ttl_s: float = Field(10.0, ge=0.3, le=300)
    crash_ring_size: int = Field(50, ge=1)
    analysis_window_s: float = Field(30.0, gt=0)
    analysis_summary_interval: float = Field(10.0, gt=0)
    probe_min_interval: float = Field(5.0, gt=0)
    probe_max_interval: float = Field(15.0, gt=0)
    probe_jitter: float = Field(1.0, ge=0)
    noise_mode: Literal["words", "bytes", "markov"] = "words"
    noise_min_interval: float = Field(0.8, gt=0)
    noise_max_interval: float = Field(2.4, gt=0)
    noise_wordset: str = ""
    noise_entropy_bits: int = 128
    noise_max_words: int = Field(8, ge=3)
    noise_disable_token_ent: str | None = None
    noise_markov_order: Literal[1, 2] = 1
    noise_bigram_dropout: float = Field(0.0, ge=0, le=1)
    noise_stream_id: str = "noise_metadata"
    noise_seek_lonely_after_s: float = Field(12.0, ge=0)
    noise_seek_escalate_after_s: float = Field(30.0, ge=0)
    noise_seek_shutdown_after_s: float = Field(120.0, ge=0)
    noise_seek_beacon_interval_low_s: float = Field(10.0, gt=0)
    noise_seek_beacon_interval_esc_s: float = Field(5.0, gt=0)
    noise_seek_beacon_path: Path = Path("runtime/beacons.jsonl")
    noise_seek_subscriptions_path: Path = Path("runtime/subscriptions.json")
    noise_seek_subscription_ttl_s: float = Field(60.0, gt=0)  # unrenewed holds expire
    stage_interval_s: float = Field(1.0, gt=0)  # all_in_stage: one `stage` frame per tick
    listener_poll_interval_s: float = Field(2.5, gt=0)
    listener_tail_n: int = Field(250, ge=1)
    listener_id: str = ""  # `rooms listener-sim`'s id; empty: listener-<8 random hex>
    target_stream_id: str = ""  # `rooms listener-sim` answers only this stream's beacons

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        """Fill in the installation profile's values wherever the env left a gap."""
        if not isinstance(data, dict):
            return data
        lowered = {str(k).lower(): k for k in data}
        profile = data.get(lowered.get("installation_profile", ""), "custom")
        overrides = PROFILES.get(str(profile).strip().lower())
        if overrides is None:
            return data  # the Literal type reports the bad name
        merged = dict(data)
        for key, value in overrides.items():
            if key not in lowered:
                merged[key] = value
        return merged

    @model_validator(mode="after")
    def _check(self) -> Settings:
        _check_orderings(self)
        _check_urls(self)
        self.ops_networks()  # raises on a bad CIDR
        self.zone()  # raises on an unknown TIMEZONE
        self.trusted_proxy_networks()
        for name in ("public_ingest_rate", "public_ingest_ip_rate", "public_revoke_rate",
                     "public_revoke_ip_rate"):
            parse_rate(name.upper(), getattr(self, name))
        return self

    # --- derived values ---------------------------------------------------------------
    @property
    def embedded(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.var_dir / 'rooms.db')}"

    @property
    def resolved_blob_store_url(self) -> str:
        return self.blob_store_url or f"file://{(self.var_dir / 'blobs').resolve()}"

    def runtime_path(self, path: Path) -> Path:
        """Relative runtime paths (beacons, subscriptions) live under VAR_DIR."""
        return path if path.is_absolute() else self.var_dir / path

    def zone(self) -> ZoneInfo:
        """TIMEZONE, or the host's zone (TZ, /etc/timezone, /etc/localtime), else UTC."""
        name = self.timezone.strip()
        try:
            return ZoneInfo(name or host_zone_name())
        except (ZoneInfoNotFoundError, ValueError):
            if not name:  # the host's own setting is odd: not the operator's mistake
                return ZoneInfo("UTC")
            raise ValueError(f"TIMEZONE: {name[:60]!r} is not an IANA zone name") from None

    def ops_networks(self) -> tuple[Network, ...]:
        return parse_networks("OPS_ALLOWED_NETWORKS", self.ops_allowed_networks)

    def trusted_proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks("TRUSTED_PROXIES", self.trusted_proxies)


def host_zone_name() -> str:
    """The host's IANA zone name: TZ, /etc/timezone, the /etc/localtime link, else "UTC"."""
    tz = os.environ.get("TZ", "").strip().lstrip(":")
    if (tz and "/" in tz) or tz == "UTC":
        return tz
    with contextlib.suppress(OSError):
        named = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if named:
            return named
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").resolve())
        if "/zoneinfo/" in target:
            return target.split("/zoneinfo/", 1)[1]
    return "UTC"


RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(name: str, value: str) -> tuple[int, int]:
    """Parse a DRF-style rate like ``180/hour`` into (limit, window seconds)."""
    count, _, unit = value.partition("/")
    unit = unit.strip().lower().rstrip("s") or "?"
    if not count.strip().isdigit() or unit not in RATE_UNITS or int(count) < 1:
        raise ValueError(f"{name}: {value!r} must look like 180/hour (second|minute|hour|day)")
    return int(count), RATE_UNITS[unit]


def _check_orderings(s: Settings) -> None:
    rules: list[tuple[bool, str]] = [
        (s.pool_worn_min_age_hours <= s.pool_fresh_max_age_hours,
         "POOL_WORN_MIN_AGE_HOURS must be greater than POOL_FRESH_MAX_AGE_HOURS"),
        (s.pool_worn_min_wear <= s.pool_fresh_max_wear,
         "POOL_WORN_MIN_WEAR must be greater than POOL_FRESH_MAX_WEAR"),
        (s.room_scarcity_severe_threshold > s.room_scarcity_low_threshold,
         "ROOM_SCARCITY_SEVERE_THRESHOLD must not exceed ROOM_SCARCITY_LOW_THRESHOLD"),
        (s.ops_disk_critical_free_gb > s.ops_disk_warning_free_gb,
         "OPS_DISK_CRITICAL_FREE_GB must not exceed OPS_DISK_WARNING_FREE_GB"),
        (s.ops_disk_critical_free_percent > s.ops_disk_warning_free_percent,
         "OPS_DISK_CRITICAL_FREE_PERCENT must not exceed OPS_DISK_WARNING_FREE_PERCENT"),
        (s.ops_queue_depth_warning > s.ops_queue_depth_critical,
         "OPS_QUEUE_DEPTH_WARNING must not exceed OPS_QUEUE_DEPTH_CRITICAL"),
        (s.room_overlap_min_delay_ms > s.room_overlap_max_delay_ms,
         "ROOM_OVERLAP_MIN_DELAY_MS must not exceed ROOM_OVERLAP_MAX_DELAY_MS"),
        (s.noise_min_interval > s.noise_max_interval,
         "NOISE_MIN_INTERVAL must not exceed NOISE_MAX_INTERVAL"),
        (s.probe_min_interval > s.probe_max_interval,
         "PROBE_MIN_INTERVAL must not exceed PROBE_MAX_INTERVAL"),
        (not (s.noise_seek_lonely_after_s <= s.noise_seek_escalate_after_s
              <= s.noise_seek_shutdown_after_s),
         "NOISE_SEEK_LONELY_AFTER_S <= NOISE_SEEK_ESCALATE_AFTER_S <= "
         "NOISE_SEEK_SHUTDOWN_AFTER_S must hold"),
        (s.room_tone_source_mode == "site_ambience" and not s.room_tone_source_url,
         "ROOM_TONE_SOURCE_URL is required when ROOM_TONE_SOURCE_MODE=site_ambience"),
    ]
    for broken, message in rules:
        if broken:
            raise ValueError(message)


def _check_urls(s: Settings) -> None:
    db = s.resolved_database_url
    if not db.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ValueError(
            "DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    blobs = s.resolved_blob_store_url
    if blobs.startswith("s3://"):
        if not blobs[5:].strip("/"):
            raise ValueError("BLOB_STORE_URL: s3:// needs a bucket name (s3://BUCKET)")
        if s.s3_endpoint_url and not s.s3_endpoint_url.startswith(("http://", "https://")):
            raise ValueError("S3_ENDPOINT_URL must be an http:// or https:// URL")
    elif not blobs.startswith("file://") or not blobs[7:]:
        raise ValueError("BLOB_STORE_URL must be file://PATH or s3://BUCKET")
    if s.alert_webhook_url and not s.alert_webhook_url.startswith(("http://", "https://")):
        raise ValueError("ALERT_WEBHOOK_URL must be an http:// or https:// URL")
    if s.revocation_ledger_url and not s.revocation_ledger_url.startswith(("file://", "s3://")):
        raise ValueError("REVOCATION_LEDGER_URL must be file://PATH or s3://BUCKET/PREFIX")
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if not db.startswith("sqlite") and not s.secret_key.get_secret_value():
        raise ValueError("SECRET_KEY is required with a PostgreSQL DATABASE_URL (production)")
    if not db.startswith("sqlite") and not s.ops_shared_secret.get_secret_value():
        raise ValueError("OPS_SHARED_SECRET is required with a PostgreSQL DATABASE_URL "
                         "(production)")


def load_settings(**overrides: Any) -> Settings:
    """Read settings from env and `.env`; raise ConfigError with one line naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ()) if p != "__root__"]
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    if loc:
        return f"invalid setting {loc[0].upper()}: {msg}"
    return f"invalid setting {msg}"
