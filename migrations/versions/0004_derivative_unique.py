"""derivatives: one row per (take, kind); gone takes keep no raw key or fingerprint

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 17:10:00

- `derivative_kind_idx` (artifact_id, kind) becomes UNIQUE, so a render that runs twice
  (a retry, the level-triggered sweep, two workers) refreshes its row instead of adding a
  second one; duplicates left by older code are collapsed to the newest row first.
- Revoked and expired takes keep no `raw_uri` and no `raw_sha256` (their blobs are gone;
  older code left the key and the audio's fingerprint behind).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text(
        "DELETE FROM derivative WHERE id NOT IN ("
        " SELECT max_id FROM (SELECT max(id) AS max_id FROM derivative"
        " GROUP BY artifact_id, kind) AS newest)"))
    op.execute(sa.text(
        "UPDATE artifact SET raw_uri = '', raw_sha256 = ''"
        " WHERE status IN ('REVOKED', 'EXPIRED') AND (raw_uri <> '' OR raw_sha256 <> '')"))
    op.drop_index("derivative_kind_idx", table_name="derivative")
    op.create_index("derivative_kind_idx", "derivative", ["artifact_id", "kind"], unique=True)


def downgrade() -> None:
    op.drop_index("derivative_kind_idx", table_name="derivative")
    op.create_index("derivative_kind_idx", "derivative", ["artifact_id", "kind"], unique=False)
