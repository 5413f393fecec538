"""Both databases migrate up from empty and down again."""

from __future__ import annotations

from sqlalchemy import inspect

from rooms.config import Settings
from rooms.db import create_engine, downgrade, migrate

TABLES = {"node", "consent_manifest", "artifact", "derivative", "access_event",
          "steward_state", "steward_action"}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return names - {"alembic_version"}


async def test_migrate_down_to_empty_and_up_again(settings: Settings) -> None:
    url = settings.resolved_database_url  # a migrated copy of the template
    assert await _tables(url) == TABLES
    downgrade(url, "base")
    assert await _tables(url) == set()
    migrate(url)
    assert await _tables(url) == TABLES


async def test_pool_indexes_exist(settings: Settings) -> None:
    engine = create_engine(settings.resolved_database_url)
    try:
        async with engine.connect() as conn:
            names = await conn.run_sync(
                lambda c: {ix["name"] for ix in inspect(c).get_indexes("artifact")})
    finally:
        await engine.dispose()
    assert {"artifact_pool_rank_idx", "artifact_pool_cool_idx", "artifact_active_idx"} <= names
