from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow
from rooms.models.enums import DerivativeKind, enum_column


class Derivative(Base):
    """A rendering of a FOSSIL take (spectrogram PNG, essence WAV) with its own expiry."""

    __tablename__ = "derivative"
    __table_args__ = (
        Index("derivative_kind_idx", "artifact_id", "kind", unique=True),
        Index("derivative_expiry_idx", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id", ondelete="CASCADE"))
    kind: Mapped[DerivativeKind] = mapped_column(
        enum_column(DerivativeKind, name="kind", length=32))
    uri: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    publishable: Mapped[bool] = mapped_column(Boolean, default=False)
