"""ops: opening hours and moderation

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 20:00:00

- `opening_hours`: the weekly schedule, one row (`singleton_key` "default"); no row or an
  empty `weekly` list means always open (rooms.ops.hours).
- `artifact.held`: with MODERATION=hold a new take waits for a steward's approval and is
  not playable meanwhile (rooms.playback.playable); existing takes are not held.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "opening_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("singleton_key", sa.String(length=16), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opening_hours")),
        sa.UniqueConstraint("singleton_key", name=op.f("uq_opening_hours_singleton_key")),
    )
    # a plain ADD COLUMN: SQLite's batch mode would copy the table and rebuild its indexes,
    # and the rebuilt pool index lost its `created_at DESC` (pool/next then sorted 1/3 of a
    # 100,000-take archive per request)
    op.add_column("artifact", sa.Column("held", sa.Boolean(), nullable=False,
                                        server_default=sa.false()))


def downgrade() -> None:
    op.execute(sa.text("ALTER TABLE artifact DROP COLUMN held"))
    op.drop_table("opening_hours")
