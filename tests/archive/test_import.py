"""`rooms import`: a folder of good, bad and duplicate WAVs, run again, and after a revocation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from rooms.archive import importer
from rooms.models import Artifact, ImportEntry, StewardAction
from tests.archive.conftest import import_folder
from tests.helpers import resources


def _results(report: importer.Report, root: Path) -> dict[str, tuple[str, str]]:
    return {o.path.relative_to(root).as_posix(): (o.status, o.code) for o in report.outcomes}


async def test_import_a_folder_then_again_then_after_a_revocation(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    res = resources(app)
    root = tmp_path / "field-recordings"
    expected = import_folder(root)

    first = await importer.import_dir(res, root, consent_mode="ROOM", topic_tag="harbour")
    assert _results(first, root) == {
        "a.wav": ("imported", ""), "b.WAV": ("imported", ""), "day2/c.wav": ("imported", ""),
        "day2/copy-of-a.wav": ("skipped", "duplicate"),
        "empty.wav": ("refused", "empty_audio"), "long.wav": ("refused", "too_long"),
        "notes.wav": ("refused", "invalid_wav"), "stereo.wav": ("refused", "not_mono"),
    }
    assert first.ignored == sum(1 for r in expected.values() if r == "ignored")

    async with res.sessions() as session:
        takes = (await session.execute(select(Artifact).order_by(Artifact.id))).scalars().all()
        ledger = (await session.execute(select(ImportEntry))).scalars().all()
        audit = (await session.execute(select(StewardAction.payload).where(
            StewardAction.action == "import.completed"))).scalars().all()
    assert len(takes) == 3
    assert {(t.status, t.consent_mode, t.topic_tag) for t in takes} == {
        ("ACTIVE", "ROOM", "harbour")}
    by_id = {o.artifact_id: o for o in first.outcomes if o.status == "imported"}
    for take in takes:  # each take holds exactly its file's bytes
        source = by_id[take.id].path.read_bytes()
        stored = await res.blobs.read(take.raw_uri)
        assert stored == source
        assert take.raw_sha256 == hashlib.sha256(source).hexdigest()
    assert sorted(e.artifact_id for e in ledger) == sorted(by_id)
    # the ledger is keyed by an HMAC of the content, never the plain SHA-256
    assert not {e.content_hmac for e in ledger} & {t.raw_sha256 for t in takes}
    assert audit and audit[0]["imported"] == 3 and audit[0]["refused"] == 4

    again = await importer.import_dir(res, root, consent_mode="ROOM", topic_tag="harbour")
    assert again.count("imported") == 0
    assert again.count("skipped") == 4 and again.count("refused") == 4
    assert len(await res.blobs.list("raw/")) == 3

    # a visitor revokes the take of a.wav; a re-run (even with another consent) never
    # brings it back
    code = next(o.revocation_code for o in first.outcomes
                if o.path.name == "a.wav" and o.status == "imported")
    resp = await client.post("/api/v1/revoke", json={"token": code})
    assert resp.status_code == 200 and resp.json()["revoked"] == 1
    third = await importer.import_dir(res, root, consent_mode="FOSSIL")
    results = {o.path.name: o for o in third.outcomes}
    assert third.count("imported") == 0
    assert results["a.wav"].status == "skipped"
    assert "revoked" in results["a.wav"].reason
    async with res.sessions() as session:
        statuses = sorted((await session.execute(select(Artifact.status))).scalars())
    assert statuses == ["ACTIVE", "ACTIVE", "REVOKED"]


async def test_a_take_stored_before_its_ledger_row_is_not_stored_twice(
        app: FastAPI, tmp_path: Path) -> None:
    """A run killed between storing a take and writing its ledger row: the next run finds
    the take by its import key and writes the missing row instead of a second take."""
    res = resources(app)
    root = tmp_path / "in"
    import_folder(root)
    first = await importer.import_dir(res, root, consent_mode="ROOM",
                                      files=[root / "a.wav"])
    assert first.count("imported") == 1
    async with res.db.slot.hold(), res.sessions.begin() as session:
        await session.execute(ImportEntry.__table__.delete())
    again = await importer.import_dir(res, root, consent_mode="ROOM", files=[root / "a.wav"])
    assert [(o.status, o.code) for o in again.outcomes] == [("skipped", "already_imported")]
    async with res.sessions() as session:
        assert len((await session.execute(select(Artifact.id))).all()) == 1
        assert len((await session.execute(select(ImportEntry.id))).all()) == 1
