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
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("artifact", schema=None) as batch_op:
        batch_op.drop_column("held")
    op.drop_table("opening_hours")
