"""pool acks: access_event.ack_key, newest-first pool rank index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 13:40:00

- `access_event.ack_key` (nullable, unique): the MAC of the pool_heard token an ack came
  with, so one token counts one play however often it is sent. NULL for every other event
  (both databases allow many NULLs under a unique index).
- `artifact_pool_rank_idx` becomes (status, play_count, wear, created_at DESC), the exact
  order pool/next reads its cooled-down batch in, so the first rows of the index are the
  answer and nothing is sorted, however many takes share play_count 0 and wear 0.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("access_event", sa.Column("ack_key", sa.String(length=32), nullable=True))
    op.create_index("access_event_ack_key_uq", "access_event", ["ack_key"], unique=True)
    op.drop_index("artifact_pool_rank_idx", table_name="artifact")
    op.create_index("artifact_pool_rank_idx", "artifact",
                    ["status", "play_count", "wear", sa.text("created_at DESC")], unique=False)


def downgrade() -> None:
    op.drop_index("artifact_pool_rank_idx", table_name="artifact")
    op.create_index("artifact_pool_rank_idx", "artifact",
                    ["status", "play_count", "wear", "created_at"], unique=False)
    op.drop_index("access_event_ack_key_uq", table_name="access_event")
    with op.batch_alter_table("access_event", schema=None) as batch_op:
        batch_op.drop_column("ack_key")
