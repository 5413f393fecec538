"""Both databases migrate up from empty and down again, and hold only values the code knows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from rooms.config import Settings
from rooms.db import create_engine, downgrade, migrate

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

TABLES = {"node", "consent_manifest", "artifact", "derivative", "access_event",
          "steward_state", "steward_action", "opening_hours", "import_ledger"}


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


async def test_the_pool_index_keeps_its_order_after_every_migration(settings: Settings) -> None:
    """pool/next reads the freshest of its least-played takes straight off this index; when a
    migration rebuilt the table (SQLite batch mode) the rebuilt index lost `created_at DESC`
    and every pool/next sorted a third of a 100,000-take archive (60 ms instead of 2)."""
    url = settings.resolved_database_url
    sql = ("SELECT sql FROM sqlite_master WHERE name = 'artifact_pool_rank_idx'"
           if url.startswith("sqlite") else
           "SELECT indexdef FROM pg_indexes WHERE indexname = 'artifact_pool_rank_idx'")
    (definition,), = await _execute(url, sql)
    assert "created_at DESC" in definition, definition


ARTIFACT_ROW = {"id": 1, "kind": "audio_snippet", "consent_id": 1, "created_at": NOW,
                "status": "ACTIVE", "consent_mode": "FOSSIL", "raw_uri": "raw/1/audio.wav",
                "raw_sha256": "", "duration_ms": 1000, "sample_rate": 16000,
                "effect_profile": "clear", "effect_metadata": "{}", "deployment_kind": "memory",
                "topic_tag": "", "lifecycle_status": "", "wear": 0.0, "play_count": 0}
BAD_VALUES = [  # (statement, a value the database must refuse)
    ("UPDATE artifact SET status = :v", "BURIED"),
    ("UPDATE artifact SET status = :v", "active"),  # the values are case-sensitive
    ("UPDATE artifact SET consent_mode = :v", "FOREVER"),
    ("UPDATE derivative SET kind = :v", "waveform_svg"),
    ("INSERT INTO derivative (artifact_id, kind, uri, created_at, publishable) "
     "VALUES (1, :v, 'derivatives/1/x', :now, false)", "essence_mp3"),
]


async def _execute(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(sql), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    """One take with a derivative and a heard event, written as plain SQL (any revision)."""
    await _execute(url, "INSERT INTO consent_manifest (id, created_at, json, "
                   "revocation_token_hash) VALUES (1, :now, '{}', 'h')", now=NOW)
    columns = ", ".join(ARTIFACT_ROW)
    await _execute(url, f"INSERT INTO artifact ({columns}) VALUES "  # noqa: S608
                   f"({', '.join(':' + c for c in ARTIFACT_ROW)})", **ARTIFACT_ROW)
    await _execute(url, "INSERT INTO derivative (artifact_id, kind, uri, created_at, "
                   "publishable) VALUES (1, 'essence_wav', 'derivatives/1/essence.wav', :now, "
                   "false)", now=NOW)
    await _execute(url, "INSERT INTO access_event (artifact_id, ts, context, action) "
                   "VALUES (1, :now, 'room', 'heard')", now=NOW)


async def _counts(url: str) -> dict[str, int]:
    return {t: (await _execute(url, f"SELECT count(*) FROM {t}"))[0][0]  # noqa: S608
            for t in ("artifact", "derivative", "access_event")}


async def _refused(url: str, sql: str, value: str) -> bool:
    try:
        await _execute(url, sql, v=value, now=NOW)
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(("sql", "value"), BAD_VALUES)
async def test_the_database_refuses_values_outside_the_enums(settings: Settings, sql: str,
                                                             value: str) -> None:
    url = settings.resolved_database_url
    await _seed(url)
    assert await _refused(url, sql, value)
    good = {"BURIED": "EXPIRED", "active": "REVOKED", "FOREVER": "NOSAVE",
            "waveform_svg": "spectrogram_png", "essence_mp3": "spectrogram_png"}[value]
    assert not await _refused(url, sql, good)


async def test_0003_keeps_every_row_and_index_and_downgrades_cleanly(
        settings: Settings) -> None:
    url = settings.resolved_database_url
    downgrade(url, "0002")
    await _seed(url)
    before = await _indexes(url)
    assert not await _refused(url, "UPDATE artifact SET status = :v", "BURIED")  # no CHECK yet
    await _execute(url, "UPDATE artifact SET status = 'ACTIVE'")

    migrate(url, "0003")
    # SQLite rebuilt artifact and derivative: with foreign keys on, dropping the old artifact
    # table would have cascaded into derivative and access_event
    assert await _counts(url) == {"artifact": 1, "derivative": 1, "access_event": 1}
    assert await _indexes(url) == before  # incl. created_at DESC of the pool rank index
    assert await _refused(url, "UPDATE artifact SET status = :v", "BURIED")
    row = (await _execute(url, "SELECT status, consent_mode, raw_uri FROM artifact"))[0]
    assert tuple(row) == ("ACTIVE", "FOSSIL", "raw/1/audio.wav")

    downgrade(url, "0002")
    assert await _counts(url) == {"artifact": 1, "derivative": 1, "access_event": 1}
    assert await _indexes(url) == before
    assert not await _refused(url, "UPDATE derivative SET kind = :v", "waveform_svg")


async def test_0004_leaves_one_derivative_per_kind_and_no_audio_on_gone_takes(
        settings: Settings) -> None:
    url = settings.resolved_database_url
    downgrade(url, "0003")
    await _seed(url)
    await _execute(url, "INSERT INTO derivative (artifact_id, kind, uri, created_at, "
                   "publishable) VALUES (1, 'essence_wav', 'derivatives/1/essence-2.wav', :now, "
                   "false)", now=NOW)  # a duplicate older code could leave
    await _execute(url, "UPDATE artifact SET status = 'REVOKED', raw_sha256 = 'ab'")

    migrate(url)
    rows = await _execute(url, "SELECT kind, uri FROM derivative")
    assert [tuple(r) for r in rows] == [("essence_wav", "derivatives/1/essence-2.wav")]
    row = (await _execute(url, "SELECT status, raw_uri, raw_sha256 FROM artifact"))[0]
    assert tuple(row) == ("REVOKED", "", "")
    assert "UNIQUE" in (await _indexes(url))["derivative_kind_idx"].upper()
    with pytest.raises(IntegrityError):
        await _execute(url, "INSERT INTO derivative (artifact_id, kind, uri, created_at, "
                       "publishable) VALUES (1, 'essence_wav', 'x', :now, false)", now=NOW)
    downgrade(url, "0003")
    assert "UNIQUE" not in (await _indexes(url))["derivative_kind_idx"].upper()


async def _indexes(url: str) -> dict[str, str]:
    """Index name -> its definition, as the database prints it."""
    if url.startswith("sqlite"):
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    else:
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    return {str(name): str(ddl) for name, ddl in await _execute(url, sql)}


async def _columns(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {col["name"] for col in inspect(c).get_columns(table)})
    finally:
        await engine.dispose()


async def test_0005_adds_loudness_and_room_volume_and_downgrades_without_losing_rows(
        settings: Settings) -> None:
    url = settings.resolved_database_url
    downgrade(url, "0004")
    await _seed(url)
    await _execute(url, "INSERT INTO steward_state (singleton_key, intake_paused, "
                   "playback_paused, quieter_mode, maintenance_mode, mood_bias, "
                   "kiosk_language_code, kiosk_accessibility_mode, kiosk_force_reduced_motion, "
                   "kiosk_max_recording_seconds, session_theme_title, session_theme_prompt, "
                   "deployment_focus_topic, deployment_focus_status, updated_at) VALUES "
                   "('default', false, false, true, false, '', '', '', false, 120, '', '', '', "
                   "'', :now)", now=NOW)
    before = await _indexes(url)

    migrate(url, "0005")
    assert {"loudness_lufs", "essence_loudness_lufs"} <= await _columns(url, "artifact")
    row = (await _execute(url, "SELECT loudness_lufs, essence_loudness_lufs FROM artifact"))[0]
    assert tuple(row) == (None, None)  # measured later by the sweep
    volume = (await _execute(url, "SELECT room_volume, quieter_mode FROM steward_state"))[0]
    assert tuple(volume) == (1.0, True)
    assert "artifact_unmeasured_idx" in await _indexes(url)
    await _execute(url, "UPDATE artifact SET loudness_lufs = -23.5")

    downgrade(url, "0004")
    assert await _counts(url) == {"artifact": 1, "derivative": 1, "access_event": 1}
    assert "loudness_lufs" not in await _columns(url, "artifact")
    assert "room_volume" not in await _columns(url, "steward_state")
    assert await _indexes(url) == before
    migrate(url)
