from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow


class OpeningHours(Base):
    """The weekly opening hours (rooms.ops.hours); a singleton keyed by singleton_key."""

    __tablename__ = "opening_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    singleton_key: Mapped[str] = mapped_column(String(16), unique=True, default="default")
    # [{"day": 0..6, "open": "HH:MM", "close": "HH:MM", "intake", "playback", "streams"}]
    weekly: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
