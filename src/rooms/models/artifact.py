from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    event,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rooms.models.base import Base, UTCDateTime, utcnow
from rooms.models.consent import ConsentManifest
from rooms.models.enums import ArtifactStatus, ConsentMode, enum_column

UNMEASURED = "loudness_lufs IS NULL AND status = 'ACTIVE' AND raw_uri <> ''"


class Artifact(Base):
    """One participant take. Blobs live in the store under keys derived from its id."""

    __tablename__ = "artifact"
    __table_args__ = (
        # pool/next: playable candidates ordered the way the pool batches read them
        Index("artifact_pool_rank_idx", "status", "play_count", "wear",
              text("created_at DESC")),
        Index("artifact_pool_cool_idx", "status", "last_access_at"),
        Index("artifact_active_idx", "status", "expires_at"),
        Index("artifact_deploy_idx", "deployment_kind", "status"),
        Index("artifact_raw_expiry_idx", "raw_expires_at"),
        # the loudness sweep: only live takes with raw audio still unmeasured (migration 0005);
        # its PostgreSQL `WHERE` is added by `_postgresql_where` below
        Index("artifact_unmeasured_idx", "id", sqlite_where=text(UNMEASURED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="audio_snippet")
    node_id: Mapped[int | None] = mapped_column(ForeignKey("node.id", ondelete="SET NULL"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent_manifest.id",
                                                       ondelete="RESTRICT"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    status: Mapped[ArtifactStatus] = mapped_column(
        enum_column(ArtifactStatus, name="status", length=16), default=ArtifactStatus.ACTIVE)
    consent_mode: Mapped[ConsentMode] = mapped_column(
        enum_column(ConsentMode, name="consent_mode", length=16), default=ConsentMode.ROOM)
    raw_uri: Mapped[str] = mapped_column(String(512), default="")
    raw_sha256: Mapped[str] = mapped_column(String(64), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    sample_rate: Mapped[int] = mapped_column(Integer, default=0)
    effect_profile: Mapped[str] = mapped_column(String(32), default="clear")
    effect_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    deployment_kind: Mapped[str] = mapped_column(String(32), default="memory")
    topic_tag: Mapped[str] = mapped_column(String(64), default="")
    lifecycle_status: Mapped[str] = mapped_column(String(32), default="")
    stack_position: Mapped[int | None] = mapped_column(Integer)
    wear: Mapped[float] = mapped_column(Float, default=0.0)
    play_count: Mapped[int] = mapped_column(Integer, default=0)
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raw_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    # integrated loudness (ITU-R BS.1770, LUFS) of the raw take and of its essence; NULL
    # until measured, -70.0 for silence (docs/loudness.md)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    essence_loudness_lufs: Mapped[float | None] = mapped_column(Float)
    # MODERATION=hold: waits for a steward's approval; not playable meanwhile (docs/ops.md)
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    consent: Mapped[ConsentManifest] = relationship(lazy="raise")


@event.listens_for(Artifact.__table__, "before_create")
def _postgresql_where(table: Table, connection: Any, **_: Any) -> None:
    """`postgresql_where` on the partial index, set when the table is created on PostgreSQL.

    Written in `__table_args__` it would import SQLAlchemy's whole PostgreSQL dialect
    (~2.5 MiB) into every process that imports the models, an embedded server too (README
    "Idle memory"). Only DDL from the metadata reads it; the migrations create the index
    themselves (0005)."""
    if connection.dialect.name == "postgresql":
        index = next(i for i in table.indexes if i.name == "artifact_unmeasured_idx")
        index.dialect_options["postgresql"]["where"] = text(UNMEASURED)
