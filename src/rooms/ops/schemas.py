"""Wire shapes of the operator API (for OpenAPI; the routes build the same dicts).

tests/test_contract.py validates every answer against these, through /openapi.json.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from rooms.models import ArtifactStatus, ConsentMode

Lane = Literal["fresh", "mid", "worn"]
Density = Literal["light", "medium", "dense"]
Mood = Literal["clear", "hushed", "suspended", "weathered", "gathering"]
WorkerState = Literal["running", "stopped", "backoff", "crashloop", "disabled"]


class OperatorStateOut(BaseModel):
    intake_paused: bool
    playback_paused: bool
    quieter_mode: bool
    maintenance_mode: bool
    mood_bias: Literal["", "clear", "hushed", "suspended", "weathered", "gathering"]
    room_volume: float = 1.0
    kiosk_language_code: Literal["", "en", "es_mx_ca"] = ""
    kiosk_accessibility_mode: Literal["", "large_high_contrast"] = ""
    kiosk_force_reduced_motion: bool = False
    kiosk_max_recording_seconds: int = 120
    session_theme_title: str = ""
    session_theme_prompt: str = ""
    updated_at: str | None


class ActionOut(BaseModel):
    id: int
    action: str
    actor: str
    detail: str
    payload: dict[str, Any]
    created_at: str | None


class ChangeOut(BaseModel):
    field: str
    value: bool | int | str
    action: str
    detail: str


class ControlsOut(BaseModel):
    operator_state: OperatorStateOut
    recent_actions: list[ActionOut]


class ControlsChangedOut(ControlsOut):
    changes: list[ChangeOut]


class ActionsPage(BaseModel):
    items: list[ActionOut]
    next_cursor: int | None


WorkerReason = Literal["too_few_listeners", "too_many_listeners", "quiet", "closed",
                       "disabled", "crashloop", "not_leader"]


class WorkerListenersOut(BaseModel):
    count: int
    min_ws_clients: int
    max_ws_clients: int | None


class WorkerOut(BaseModel):
    state: WorkerState
    restarts: int
    last_heartbeat_s_ago: float | None
    last_error: str | None
    reason: WorkerReason | None = None  # why it is not running (CONTRACT §4)
    listeners: WorkerListenersOut | None = None  # with a listener-count reason


class CrashOut(BaseModel):
    worker: str
    at: float
    error: str
    traceback: str


class WorkersOut(BaseModel):
    state: Literal["running", "idle", "degraded"]
    workers: dict[str, WorkerOut]
    crashes: list[CrashOut]


class RestartedOut(WorkerOut):
    worker: str


class OperatorArtifactOut(BaseModel):
    id: int
    status: ArtifactStatus
    consent_mode: ConsentMode
    playable: bool  # in the pool now (rooms.playback.playable)
    held: bool = False  # waiting for a steward's review (MODERATION=hold)
    created_at: str | None
    last_access_at: str | None
    duration_ms: int
    play_count: int
    wear: float
    deployment_kind: str
    topic_tag: str
    lifecycle_status: str
    lane: Lane
    density: Density
    mood: Mood
    age_hours: float
    absence_hours: float | None


class ArtifactsPage(BaseModel):
    items: list[OperatorArtifactOut]
    next_cursor: int | None


class MetadataOut(BaseModel):
    artifact: OperatorArtifactOut
    changed: list[str]


class CheckOut(BaseModel):
    ok: bool
    latency_ms: float
    error: str | None = None


class StorageOut(BaseModel):
    path: str
    state: Literal["ok", "warning", "critical", "unknown"]
    total_gb: float | None = None
    free_gb: float | None = None
    used_percent: float | None = None
    free_percent: float | None = None
    error: str | None = None


class JobFailureOut(BaseModel):
    job: str
    error: str
    at: str | None


class JobsOut(BaseModel):
    ok: bool
    backend: str
    depth: int | None = None
    running: int | None = None
    heartbeat_age_s: float | None = None
    stale: bool | None = None
    recent_failures: int | None = None
    last_failures: list[JobFailureOut] | None = None
    last_sweep_age_s: dict[str, float] | None = None  # seconds since each sweep last ran
    error: str | None = None


class RetentionOut(BaseModel):
    soon_window_hours: float
    raw_held: int
    raw_expiring_soon: int
    next_raw_expiry_at: str | None
    raw_overdue: int  # held past its raw TTL: the expire_raw sweep is behind
    fossil_retained: int
    fossil_residue_only: int
    next_fossil_expiry_at: str | None


class SwitchesOut(BaseModel):
    intake_paused: bool
    playback_paused: bool
    quieter_mode: bool
    maintenance_mode: bool
    updated_at: str | None


class SupervisorOut(BaseModel):
    state: Literal["running", "idle", "degraded"]
    workers: dict[str, WorkerOut]


class LiveOut(BaseModel):
    node: str
    total: int
    local_total: int
    topics: dict[str, int]
    peers: list[str]


class WarningOut(BaseModel):
    code: str
    message: str
    level: Literal["critical", "warning", "info"]


class NodeStatusOut(BaseModel):
    """`GET /api/v1/node/status`; a part that could not be read is null (and warned about)."""

    ok: bool
    now: str | None
    components: dict[str, CheckOut]
    operator_state: SwitchesOut | None
    artifacts: dict[str, int] | None
    active: int | None
    expired: int | None
    revoked: int | None
    playable: int | None
    lanes: dict[str, int] | None
    moods: dict[str, int] | None
    retention: RetentionOut | None
    storage: StorageOut
    jobs: JobsOut
    supervisor: SupervisorOut
    live: LiveOut
    warnings: list[WarningOut]


class RemovedOut(BaseModel):
    ok: bool
    artifact_id: int
    status: ArtifactStatus
    deleted_derivatives: int


class ApprovedOut(BaseModel):
    ok: bool
    artifact_id: int
    held: bool


class ReviewItemOut(BaseModel):
    id: int
    created_at: str | None
    duration_ms: int
    consent_mode: ConsentMode
    audio_url: str  # signed, short-lived; plays the held take for the operator


class ReviewQueueOut(BaseModel):
    items: list[ReviewItemOut]


class WindowOut(BaseModel):
    day: int
    open: str
    close: str
    intake: bool
    playback: bool
    streams: bool


class OpenNowOut(BaseModel):
    open: bool
    intake: bool
    playback: bool
    streams: bool
    next_change_at: str | None


class ScheduleOut(BaseModel):
    timezone: str
    weekly: list[WindowOut]
    now: OpenNowOut  # what the schedule opens at this moment
    changed: bool | None = None  # PUT: whether it differed from the stored one


class DeviceOut(BaseModel):
    kind: Literal["kiosk", "room"]
    name: str
    last_seen_at: str | None
    status: dict[str, Any]
    stale: bool


class DevicesOut(BaseModel):
    items: list[DeviceOut]


class MemoryColorsOut(BaseModel):
    counts: dict[str, int]
    catalog: list[dict[str, str]]


class ArtifactSummaryOut(BaseModel):
    generated_at: str | None
    active: int
    playable: int
    held: int
    expired: int
    revoked: int
    by_status: dict[str, int]
    lanes: dict[str, int]
    moods: dict[str, int]
    memory_colors: MemoryColorsOut
    deployments: dict[str, int]
    retention: RetentionOut
