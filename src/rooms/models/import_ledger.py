from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rooms.models.base import Base, UTCDateTime, utcnow


class ImportEntry(Base):
    """One file content `rooms import` has taken in (rooms/archive/importer.py).

    Keyed by an HMAC of the file's bytes under a key derived from SECRET_KEY, so the table
    is no plain fingerprint of anyone's audio. Rows are never deleted: a take that was
    imported and later revoked or expired keeps its row, so it is never imported again.
    """

    __tablename__ = "import_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    artifact_id: Mapped[int | None] = mapped_column(
        ForeignKey("artifact.id", ondelete="SET NULL"))
    source_name: Mapped[str] = mapped_column(String(255), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
