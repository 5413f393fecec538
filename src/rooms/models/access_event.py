from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow


class AccessEvent(Base):
    """One play or ack of an artifact; pool acks are context="room", action="heard"."""

    __tablename__ = "access_event"
    __table_args__ = (
        Index("access_event_artifact_ts_idx", "artifact_id", "ts"),
        Index("access_event_ack_key_uq", "ack_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    context: Mapped[str] = mapped_column(String(32), default="kiosk")
    action: Mapped[str] = mapped_column(String(32), default="play")
    # a pool ack's token MAC: the same token acknowledged twice counts once; on a NOSAVE
    # claim (context "nosave", action "listen") the listener's key (recordings/nosave.py)
    ack_key: Mapped[str | None] = mapped_column(String(32))
