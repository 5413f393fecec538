from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow


class ConsentManifest(Base):
    """The consent policy in force when the take was submitted, frozen as JSON."""

    __tablename__ = "consent_manifest"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    json: Mapped[dict[str, Any]] = mapped_column(JSON)
    revocation_token_hash: Mapped[str] = mapped_column(String(64), index=True)
