"""import_ledger: what `rooms import` has taken in, keyed by an HMAC of the content

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 20:00:00

One row per file content imported (rooms/archive/importer.py). `content_hmac` is an
HMAC-SHA256 of the file's bytes under a key derived from SECRET_KEY (no plain fingerprint);
rows are never deleted, so a take imported and later revoked or expired is never imported
again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hmac", sa.String(length=64), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=True),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifact.id"],
                                name="fk_import_ledger_artifact_id_artifact",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_import_ledger"),
        sa.UniqueConstraint("content_hmac", name="uq_import_ledger_content_hmac"),
    )


def downgrade() -> None:
    op.drop_table("import_ledger")
