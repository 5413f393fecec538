"""The closed sets of values the tables hold, as `StrEnum`s.

Each member is its own string (`ArtifactStatus.ACTIVE == "ACTIVE"`), so JSON, logs and
comparisons with plain strings keep working. `status`, `consent_mode` and `derivative.kind`
are stored as VARCHAR with a CHECK constraint listing the members (`enum_column`; migration
0003), so the database itself refuses any other value. Steward action names are an enum in
code only: the audit column takes any string, so a new action needs no table rebuild.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Enum

from rooms.models.steward import SWITCHES


class ArtifactStatus(StrEnum):
    ACTIVE = "ACTIVE"  # kept and, while it has something to play, in the pool
    EXPIRED = "EXPIRED"  # past its retention; rows stay for the counts, blobs are gone
    REVOKED = "REVOKED"  # withdrawn by the participant, or a NOSAVE take after its play
    EPHEMERAL = "EPHEMERAL"  # a NOSAVE take waiting for its one play


class ConsentMode(StrEnum):
    ROOM = "ROOM"
    FOSSIL = "FOSSIL"
    NOSAVE = "NOSAVE"


class DerivativeKind(StrEnum):
    SPECTROGRAM_PNG = "spectrogram_png"
    ESSENCE_WAV = "essence_wav"


class StewardActionName(StrEnum):
    """`StewardAction.action`: `<switch>.enabled|disabled`, `<setting>.updated`, and the rest."""

    INTAKE_PAUSED_ENABLED = "intake_paused.enabled"
    INTAKE_PAUSED_DISABLED = "intake_paused.disabled"
    PLAYBACK_PAUSED_ENABLED = "playback_paused.enabled"
    PLAYBACK_PAUSED_DISABLED = "playback_paused.disabled"
    QUIETER_MODE_ENABLED = "quieter_mode.enabled"
    QUIETER_MODE_DISABLED = "quieter_mode.disabled"
    MAINTENANCE_MODE_ENABLED = "maintenance_mode.enabled"
    MAINTENANCE_MODE_DISABLED = "maintenance_mode.disabled"
    MOOD_BIAS_UPDATED = "mood_bias.updated"
    ROOM_VOLUME_UPDATED = "room_volume.updated"
    KIOSK_LANGUAGE_CODE_UPDATED = "kiosk_language_code.updated"
    KIOSK_ACCESSIBILITY_MODE_UPDATED = "kiosk_accessibility_mode.updated"
    KIOSK_FORCE_REDUCED_MOTION_UPDATED = "kiosk_force_reduced_motion.updated"
    KIOSK_MAX_RECORDING_SECONDS_UPDATED = "kiosk_max_recording_seconds.updated"
    SESSION_THEME_TITLE_UPDATED = "session_theme_title.updated"
    SESSION_THEME_PROMPT_UPDATED = "session_theme_prompt.updated"
    ARTIFACT_METADATA_UPDATED = "artifact.metadata.updated"
    REVOCATION_COMPLETED = "revocation.completed"
    WORKER_RESTARTED = "worker.restarted"
    ARTIFACT_REMOVED = "artifact.removed_from_circulation"  # a steward took a take out
    ARTIFACT_APPROVED = "artifact.approved"  # MODERATION=hold: a held take enters the pool
    ARTIFACT_REJECTED = "artifact.rejected"  # MODERATION=hold: a held take removed
    SCHEDULE_UPDATED = "schedule.updated"  # the opening hours changed
    RETENTION_EXPIRED = "retention.expired"  # takes past their retention, removed
    RETENTION_SWEEP = "retention.sweep"  # one per sweep run that changed anything, its counts
    IMPORT_COMPLETED = "import.completed"  # `rooms import`: its counts (rooms/archive)
    RESTORE_COMPLETED = "restore.completed"  # `rooms restore`: the archive and what it re-applied
    AUDIT_PRUNED = "audit.pruned"  # `prune_audit`: old access events and actions deleted

    @classmethod
    def for_change(cls, field: str, value: object) -> StewardActionName:
        """The action for setting steward field `field` to `value`: a switch (SWITCHES) is
        `.enabled`/`.disabled`, any other field `.updated`. ValueError for a field that has
        no name here yet."""
        if field in SWITCHES:
            return cls(f"{field}.{'enabled' if value else 'disabled'}")
        return cls(f"{field}.updated")


def enum_column(enum: type[StrEnum], *, name: str, length: int) -> Enum:
    """A VARCHAR(`length`) column type holding `enum`'s values, with a CHECK constraint
    `ck_<table>_<name>` that lists them (never a native database enum type)."""
    return Enum(enum, name=name, length=length, native_enum=False, create_constraint=True,
                validate_strings=True, values_callable=lambda members: [m.value for m in members])
