"""even loudness and the room's master volume

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 20:00:00

- `artifact.loudness_lufs`, `artifact.essence_loudness_lufs` (nullable floats): integrated
  loudness (ITU-R BS.1770, LUFS) of the raw take and of its essence, NULL until the job has
  measured it (docs/loudness.md). Existing takes start NULL; `sweep_loudness` measures them.
- `artifact_unmeasured_idx`: a partial index on id over the live takes with raw audio whose
  loudness is still NULL, so the sweep finds them without reading the archive (it is empty
  once every take is measured, and costs an upload one small index entry until then).
- `steward_state.room_volume` (0..1, default 1.0): the room's master volume.

Both databases add and drop these columns in place (SQLite >= 3.35 has DROP COLUMN), so
no table is rebuilt and no foreign key cascades.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNMEASURED = sa.text("loudness_lufs IS NULL AND status = 'ACTIVE' AND raw_uri <> ''")


def upgrade() -> None:
    op.add_column("artifact", sa.Column("loudness_lufs", sa.Float(), nullable=True))
    op.add_column("artifact", sa.Column("essence_loudness_lufs", sa.Float(), nullable=True))
    op.create_index("artifact_unmeasured_idx", "artifact", ["id"], unique=False,
                    sqlite_where=UNMEASURED, postgresql_where=UNMEASURED)
    op.add_column("steward_state", sa.Column("room_volume", sa.Float(), nullable=False,
                                             server_default=sa.text("1.0")))


def downgrade() -> None:
    op.drop_index("artifact_unmeasured_idx", table_name="artifact")
    for table, column in (("steward_state", "room_volume"),
                          ("artifact", "essence_loudness_lufs"), ("artifact", "loudness_lufs")):
        op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
