"""A storage failure leaves no row; a database failure leaves no blob (at once, or after
the sweep when the process died between the two)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from rooms.recordings.service import new_blob_key
from rooms.recordings.tasks import recent_prefixes, sweep_orphan_blobs
from tests.helpers import resources
from tests.recordings.conftest import artifact_count, blob_keys, upload

FAIL_TRIGGER = {
    "sqlite": ["""CREATE TRIGGER fail_artifact BEFORE INSERT ON artifact
                  BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"""],
    "postgresql": [
        """CREATE FUNCTION fail_artifact() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER fail_artifact BEFORE INSERT ON artifact
           FOR EACH ROW EXECUTE FUNCTION fail_artifact()"""],
}


async def test_storage_failure_leaves_no_row(client: httpx.AsyncClient, app: FastAPI,
                                             backend: Any, tier: str) -> None:
    res = resources(app)
    if tier == "embedded":
        # a real failure even as root: the folder the blob needs is a file
        (res.settings.var_dir / "blobs" / "raw").write_bytes(b"")
    else:
        if getattr(backend.s3, "external", False):
            pytest.skip("S3 comes from the environment; cannot stop it")
        backend.s3.stop()
    try:
        resp = await upload(client)
    finally:
        if tier == "services":
            backend.s3.start()
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "storage_unavailable"
    assert await artifact_count(app) == 0


async def test_database_failure_after_the_blob_leaves_no_blob(client: httpx.AsyncClient,
                                                         app: FastAPI) -> None:
    res = resources(app)
    async with res.engine.begin() as conn:
        for statement in FAIL_TRIGGER[conn.dialect.name]:
            await conn.execute(text(statement))
    resp = await upload(client)
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "database_unavailable"
    assert await artifact_count(app) == 0
    assert await blob_keys(app) == []


async def test_sweep_removes_blobs_without_a_row(client: httpx.AsyncClient, app: FastAPI) -> None:
    res = resources(app)
    kept = (await upload(client)).json()["artifact"]["id"]
    async with res.sessions() as session:
        from rooms.models import Artifact

        kept_key = (await session.get(Artifact, kept)).raw_uri  # type: ignore[union-attr]

    async def once() -> Any:
        yield b"left behind by a crash between blob write and commit"

    await res.blobs.put(new_blob_key("raw"), once())
    await res.blobs.put("raw/0123456789abcdef0123/audio.wav", once())  # the older layout
    ctx = res.job_context()
    assert await sweep_orphan_blobs(ctx) == 0  # too young to judge: an ingest may be mid-way
    later = time.time() + 3600
    assert await sweep_orphan_blobs(ctx, later) == 1  # today's folder only
    assert await sweep_orphan_blobs(ctx, later, True) == 1  # a one-off full listing
    assert await blob_keys(app) == [kept_key]


def test_the_orphan_sweep_lists_only_recent_day_folders() -> None:
    now = datetime(2026, 3, 1, 0, 5, tzinfo=UTC)
    assert recent_prefixes(now, 2) == [
        "raw/2026/02/27/", "raw/2026/02/28/", "raw/2026/03/01/",
        "ephemeral/2026/02/27/", "ephemeral/2026/02/28/", "ephemeral/2026/03/01/"]


@pytest.mark.parametrize(("path", "mode", "fields", "code"), [
    ("/api/v1/artifacts/audio", "SOMETIMES", {}, "invalid_consent_mode"),
    ("/api/v1/artifacts/audio", "ROOM", {"effect_profile": "nope"}, "invalid_effect_profile"),
    ("/api/v1/artifacts/audio", "ROOM", {"topic_tag": "t" * 65}, "invalid_topic_tag"),
    ("/api/v1/ephemeral/audio", "NOSAVE", {"effect_profile": "nope"}, "invalid_effect_profile"),
])
async def test_a_take_refused_after_its_audio_was_stored_leaves_no_blob(
        client: httpx.AsyncClient, app: FastAPI, path: str, mode: str,
        fields: dict[str, str], code: str) -> None:
    # The file store installs a valid WAV as its blob in the spool's last write, before the
    # form's other fields are judged: a refusal after that must take the blob away again.
    resp = await upload(client, path=path, mode=mode, **fields)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
    assert await artifact_count(app) == 0
    assert await blob_keys(app) == []
