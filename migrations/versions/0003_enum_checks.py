"""closed value sets: CHECK constraints on artifact.status, artifact.consent_mode and
derivative.kind

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 17:00:00

The columns stay VARCHAR (no native enum type, so a new value is a constraint change, not a
type migration); the CHECK lists the values of `rooms.models.enums`, frozen here as they were
when this revision was written. SQLite cannot add a constraint to a table, so batch mode
rebuilds `artifact` and `derivative` (copy, drop, rename). Two things need care there:
- foreign keys must be off: dropping `artifact` with them on would first delete every row,
  cascading into `access_event` and `derivative`. alembic's connection (migrations/env.py)
  never turns them on; `_foreign_keys_off` makes sure.
- batch mode recreates indexes from reflection, which loses `created_at DESC` of
  `artifact_pool_rank_idx`; `_same_indexes` puts back each index's original DDL.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("ACTIVE", "EXPIRED", "REVOKED", "EPHEMERAL")
CONSENT_MODES = ("ROOM", "FOSSIL", "NOSAVE")
DERIVATIVE_KINDS = ("spectrogram_png", "essence_wav")

CHECKS = {
    "artifact": (("ck_artifact_status", "status", STATUSES),
                 ("ck_artifact_consent_mode", "consent_mode", CONSENT_MODES)),
    "derivative": (("ck_derivative_kind", "kind", DERIVATIVE_KINDS),),
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _foreign_keys_off() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        enabled = bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
        if enabled:
            raise RuntimeError("0003 rebuilds tables on SQLite: run it with foreign keys off")


@contextmanager
def _same_indexes(table: str) -> Iterator[None]:
    """On SQLite, recreate `table`'s indexes from their own DDL after a batch rebuild."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    ddl = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL", (table,)).all()
    yield
    for name, sql in ddl:
        bind.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    _foreign_keys_off()
    for table, checks in CHECKS.items():
        with _same_indexes(table), op.batch_alter_table(table) as batch_op:
            for name, column, values in checks:
                batch_op.create_check_constraint(op.f(name), _one_of(column, values))


def downgrade() -> None:
    _foreign_keys_off()
    for table, checks in CHECKS.items():
        with _same_indexes(table), op.batch_alter_table(table) as batch_op:
            for name, _, _ in checks:
                batch_op.drop_constraint(op.f(name), type_="check")
