from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow

SWITCHES = ("intake_paused", "playback_paused", "quieter_mode", "maintenance_mode")
"""The steward's on/off switches, in the order the operator API shows them."""


class StewardState(Base):
    """The steward's switches; a singleton row keyed by singleton_key="default"."""

    __tablename__ = "steward_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    singleton_key: Mapped[str] = mapped_column(String(16), unique=True, default="default")
    intake_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    playback_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    quieter_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    maintenance_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    mood_bias: Mapped[str] = mapped_column(String(16), default="")
    room_volume: Mapped[float] = mapped_column(Float, default=1.0)  # 0..1, the room's master
    kiosk_language_code: Mapped[str] = mapped_column(String(16), default="")
    kiosk_accessibility_mode: Mapped[str] = mapped_column(String(32), default="")
    kiosk_force_reduced_motion: Mapped[bool] = mapped_column(Boolean, default=False)
    kiosk_max_recording_seconds: Mapped[int] = mapped_column(Integer, default=120)
    session_theme_title: Mapped[str] = mapped_column(String(64), default="")
    session_theme_prompt: Mapped[str] = mapped_column(String(180), default="")
    deployment_focus_topic: Mapped[str] = mapped_column(String(64), default="")
    deployment_focus_status: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class StewardAction(Base):
    """The audit trail: every steward change, revocation and removal."""

    __tablename__ = "steward_action"
    __table_args__ = (Index("steward_action_created_idx", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64), default="operator")
    detail: Mapped[str] = mapped_column(String(300), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
