"""initial tables

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:36:35.062573
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "consent_manifest",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("json", sa.JSON(), nullable=False),
        sa.Column("revocation_token_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_manifest")),
    )
    with op.batch_alter_table("consent_manifest", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_manifest_revocation_token_hash"),
            ["revocation_token_hash"],
            unique=False,
        )

    op.create_table(
        "node",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("location_hint", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_node")),
    )
    op.create_table(
        "steward_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steward_action")),
    )
    with op.batch_alter_table("steward_action", schema=None) as batch_op:
        batch_op.create_index("steward_action_created_idx", ["created_at"], unique=False)

    op.create_table(
        "steward_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("singleton_key", sa.String(length=16), nullable=False),
        sa.Column("intake_paused", sa.Boolean(), nullable=False),
        sa.Column("playback_paused", sa.Boolean(), nullable=False),
        sa.Column("quieter_mode", sa.Boolean(), nullable=False),
        sa.Column("maintenance_mode", sa.Boolean(), nullable=False),
        sa.Column("mood_bias", sa.String(length=16), nullable=False),
        sa.Column("kiosk_language_code", sa.String(length=16), nullable=False),
        sa.Column("kiosk_accessibility_mode", sa.String(length=32), nullable=False),
        sa.Column("kiosk_force_reduced_motion", sa.Boolean(), nullable=False),
        sa.Column("kiosk_max_recording_seconds", sa.Integer(), nullable=False),
        sa.Column("session_theme_title", sa.String(length=64), nullable=False),
        sa.Column("session_theme_prompt", sa.String(length=180), nullable=False),
        sa.Column("deployment_focus_topic", sa.String(length=64), nullable=False),
        sa.Column("deployment_focus_status", sa.String(length=32), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_steward_state")),
        sa.UniqueConstraint("singleton_key", name=op.f("uq_steward_state_singleton_key")),
    )
    op.create_table(
        "artifact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.Integer(), nullable=True),
        sa.Column("consent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consent_mode", sa.String(length=16), nullable=False),
        sa.Column("raw_uri", sa.String(length=512), nullable=False),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("effect_profile", sa.String(length=32), nullable=False),
        sa.Column("effect_metadata", sa.JSON(), nullable=False),
        sa.Column("deployment_kind", sa.String(length=32), nullable=False),
        sa.Column("topic_tag", sa.String(length=64), nullable=False),
        sa.Column("lifecycle_status", sa.String(length=32), nullable=False),
        sa.Column("stack_position", sa.Integer(), nullable=True),
        sa.Column("wear", sa.Float(), nullable=False),
        sa.Column("play_count", sa.Integer(), nullable=False),
        sa.Column("last_access_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["consent_id"],
            ["consent_manifest.id"],
            name=op.f("fk_artifact_consent_id_consent_manifest"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["node_id"], ["node.id"], name=op.f("fk_artifact_node_id_node"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_artifact_idempotency_key")),
    )
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.create_index("artifact_active_idx", ["status", "expires_at"], unique=False)
        batch_op.create_index("artifact_deploy_idx", ["deployment_kind", "status"], unique=False)
        batch_op.create_index("artifact_pool_cool_idx", ["status", "last_access_at"], unique=False)
        batch_op.create_index(
            "artifact_pool_rank_idx", ["status", "play_count", "wear", "created_at"], unique=False
        )
        batch_op.create_index("artifact_raw_expiry_idx", ["raw_expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_artifact_consent_id"), ["consent_id"], unique=False)

    op.create_table(
        "access_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifact.id"],
            name=op.f("fk_access_event_artifact_id_artifact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_event")),
    )
    with op.batch_alter_table("access_event", schema=None) as batch_op:
        batch_op.create_index("access_event_artifact_ts_idx", ["artifact_id", "ts"], unique=False)

    op.create_table(
        "derivative",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("uri", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("publishable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifact.id"],
            name=op.f("fk_derivative_artifact_id_artifact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_derivative")),
    )
    with op.batch_alter_table("derivative", schema=None) as batch_op:
        batch_op.create_index("derivative_expiry_idx", ["expires_at"], unique=False)
        batch_op.create_index("derivative_kind_idx", ["artifact_id", "kind"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("derivative", schema=None) as batch_op:
        batch_op.drop_index("derivative_kind_idx")
        batch_op.drop_index("derivative_expiry_idx")

    op.drop_table("derivative")
    with op.batch_alter_table("access_event", schema=None) as batch_op:
        batch_op.drop_index("access_event_artifact_ts_idx")

    op.drop_table("access_event")
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_consent_id"))
        batch_op.drop_index("artifact_raw_expiry_idx")
        batch_op.drop_index("artifact_pool_rank_idx")
        batch_op.drop_index("artifact_pool_cool_idx")
        batch_op.drop_index("artifact_deploy_idx")
        batch_op.drop_index("artifact_active_idx")

    op.drop_table("artifact")
    op.drop_table("steward_state")
    with op.batch_alter_table("steward_action", schema=None) as batch_op:
        batch_op.drop_index("steward_action_created_idx")

    op.drop_table("steward_action")
    op.drop_table("node")
    with op.batch_alter_table("consent_manifest", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_manifest_revocation_token_hash"))

    op.drop_table("consent_manifest")
