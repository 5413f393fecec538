"""`rooms backup` / `rooms restore`: into an empty database and blob store, every artifact
and blob comes back (checksums verified), a take revoked after the backup stays gone, a
NOSAVE take is never in a backup, and a damaged archive is refused with nothing changed."""

from __future__ import annotations

import hashlib
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from rooms.archive import backup as archive
from rooms.archive import importer
from rooms.archive.context import cli_resources
from rooms.config import Settings
from rooms.derivatives.tasks import expire_raw
from rooms.models import AccessEvent, Artifact, ConsentManifest, Derivative, StewardAction
from rooms.resources import Resources
from tests.archive.conftest import tone_wav
from tests.helpers import resources, run_jobs
from tests.recordings.conftest import upload

Snapshot = dict[str, Any]


async def _take(client: httpx.AsyncClient, mode: str, freq: float) -> tuple[int, str]:
    resp = await upload(client, tone_wav(1.0, freq), mode=mode, topic_tag=f"t{int(freq)}")
    assert resp.status_code == 201, resp.text
    return resp.json()["artifact"]["id"], resp.json()["revocation_token"]


async def _snapshot(res: Resources) -> Snapshot:
    """Every row of the tables a restore brings back, and every blob with its SHA-256."""
    out: Snapshot = {}
    async with res.sessions() as session:
        for model in (Artifact, ConsentManifest, Derivative, AccessEvent):
            rows = (await session.execute(select(model).order_by(model.id))).scalars().all()
            out[model.__tablename__] = {
                r.id: {c.name: getattr(r, c.key) for c in model.__mapper__.columns}
                for r in rows}
        out["actions"] = [(a, p) for a, p in (await session.execute(
            select(StewardAction.action, StewardAction.payload).order_by(StewardAction.id)))]
    out["blobs"] = {k: hashlib.sha256(await res.blobs.read(k)).hexdigest()
                    for k in await res.blobs.list() if not k.startswith("ledger/")}
    return out


async def test_backup_then_restore_into_an_empty_instance(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, target: Settings) -> None:
    res = resources(app)
    room, room_code = await _take(client, "ROOM", 300)
    fossil, _ = await _take(client, "FOSSIL", 500)
    kept, _ = await _take(client, "ROOM", 700)
    _, gone_code = await _take(client, "ROOM", 900)
    assert (await client.post("/api/v1/revoke", json={"token": gone_code})).status_code == 200
    nosave = await client.post("/api/v1/ephemeral/audio",
                               files={"file": ("t.wav", tone_wav(1.0, 1100), "audio/wav")},
                               headers={"X-Rooms-Client-Id": "kiosk-test-01"})
    assert nosave.status_code == 201
    await run_jobs(app)  # the FOSSIL's spectrogram and essence
    pool = (await client.get("/api/v1/pool/next")).json()["artifact"]
    heard = await client.post(pool["playback_ack_url"])
    assert heard.status_code == 200
    before = await _snapshot(res)
    assert {f"derivatives/{fossil}/spectrogram.png",
            f"derivatives/{fossil}/essence.wav"} <= set(before["blobs"])

    archive_path = tmp_path / "site.tar"
    made = await archive.backup(res, archive_path)
    assert made.nosave_withheld == 1
    assert made.blobs == 5  # three ROOM raws, the FOSSIL's raw and its two renders - ...
    # ... NOSAVE's raw never goes in: 3 + 1 + 2 - 1 (the revoked one has none) = 5

    # after the backup the visitor of `room` revokes it: a restore must not bring it back
    assert (await client.post("/api/v1/revoke", json={"token": room_code})).status_code == 200

    async with cli_resources(target) as dest:
        assert await dest.blobs.list() == []
        report = await archive.restore(dest, archive_path)
        after = await _snapshot(dest)
    assert report.reapplied == {"revoked": 1}

    room_raw = before["artifact"][room]["raw_uri"]
    nosave_id = nosave.json()["artifact_id"]
    # blobs: everything the source held at backup time, but the revoked take's and NOSAVE's
    nosave_raw = before["artifact"][nosave_id]["raw_uri"]
    assert after["blobs"] == {k: v for k, v in before["blobs"].items()
                              if k not in (room_raw, nosave_raw)}
    # rows: identical, but the take revoked since the backup, and NOSAVE (never backed up)
    for table in ("consent_manifest", "derivative", "access_event"):
        assert after[table] == before[table], table
    expected = dict(before["artifact"])
    expected[room] = {**expected[room], "status": "REVOKED", "raw_uri": "", "raw_sha256": ""}
    expected[nosave_id] = {**expected[nosave_id], "status": "REVOKED", "raw_uri": "",
                           "raw_sha256": ""}
    assert after["artifact"] == expected
    assert after["artifact"][kept]["status"] == "ACTIVE"
    assert after["actions"][:len(before["actions"])] == before["actions"]
    assert after["actions"][-1][0] == "restore.completed"

    # the restored instance takes new takes on fresh ids (PostgreSQL's sequences moved on)
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "n.wav").write_bytes(tone_wav(1.0, 1300))
    async with cli_resources(target) as dest:
        added = await importer.import_dir(dest, tmp_path / "new", consent_mode="ROOM")
    assert [o.status for o in added.outcomes] == ["imported"]
    assert added.outcomes[0].artifact_id == max(before["artifact"]) + 1


async def test_a_damaged_archive_is_refused_and_nothing_changes(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, target: Settings) -> None:
    res = resources(app)
    await _take(client, "ROOM", 300)
    good = tmp_path / "good.tar"
    await archive.backup(res, good)
    data = bytearray(good.read_bytes())
    with tarfile.open(good) as tar:  # flip one byte inside the audio
        member = next(m for m in tar.getmembers() if "/blobs/raw/" in m.name)
    flipped = tmp_path / "flipped.tar"
    data[member.offset_data + member.size // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[: member.offset_data + 100])
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not an archive at all" * 100)
    zipped = tmp_path / "good.tar.gz"
    await archive.backup(res, zipped)
    squashed = bytearray(zipped.read_bytes())
    squashed[len(squashed) // 2] ^= 0xFF
    bad_gz = tmp_path / "bad.tar.gz"
    bad_gz.write_bytes(bytes(squashed))

    messages = {}
    async with cli_resources(target) as dest:
        for bad in (flipped, cut, junk, bad_gz):
            with pytest.raises(archive.ArchiveError) as refused:
                await archive.restore(dest, bad)
            messages[bad.name] = str(refused.value)
        assert await dest.blobs.list() == []
        async with dest.sessions() as session:
            assert (await session.execute(select(func.count(Artifact.id)))).scalar_one() == 0
            assert (await session.execute(
                select(func.count(StewardAction.id)))).scalar_one() == 0
    assert "SHA-256 does not match" in messages["flipped.tar"]
    assert "manifest" in messages["cut.tar"] or "cut short" in messages["cut.tar"]
    assert "not a readable rooms backup" in messages["junk.tar"]
    assert messages["bad.tar.gz"]
    assert archive.verify(good).tables["artifact"] == 1
    assert archive.verify(zipped).tables["artifact"] == 1


async def test_restore_refuses_a_database_that_is_not_empty(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path) -> None:
    res = resources(app)
    await _take(client, "ROOM", 300)
    path = tmp_path / "b.tar.gz"
    await archive.backup(res, path)
    with pytest.raises(archive.ArchiveError, match="not empty"):
        await archive.restore(res, path)


async def test_expiries_since_the_backup_are_not_restored(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, target: Settings) -> None:
    """Retention expired both takes after the backup (the ledger says so): the restore
    writes them as EXPIRED and never writes their audio."""
    res = resources(app)
    first, _ = await _take(client, "ROOM", 300)
    second, _ = await _take(client, "ROOM", 500)
    path = tmp_path / "b.tar"
    await archive.backup(res, path)
    later = time.time() + (res.settings.raw_ttl_hours_room + 1) * 3600
    swept = await expire_raw(res.job_context(), now_ts=later)
    assert swept["expired"] == 2
    async with cli_resources(target) as dest:
        report = await archive.restore(dest, path)
        assert await dest.blobs.list("raw/") == []
        async with dest.sessions() as session:
            statuses = dict((await session.execute(select(Artifact.id, Artifact.status))).all())
    assert report.reapplied == {"expired": 2} and report.blobs_written == 0
    assert statuses == {first: "EXPIRED", second: "EXPIRED"}


async def test_audio_past_its_retention_is_not_restored(
        app: FastAPI, client: httpx.AsyncClient, tmp_path: Path, target: Settings) -> None:
    """Without a ledger entry (no sweep ran yet), time alone keeps expired audio out: the
    restore does not write it and its retention sweeps mark the take."""
    res = resources(app)
    take, _ = await _take(client, "ROOM", 300)
    path = tmp_path / "b.tar"
    await archive.backup(res, path)
    later = datetime.now(UTC) + timedelta(hours=res.settings.raw_ttl_hours_room + 1)
    async with cli_resources(target) as dest:
        report = await archive.restore(dest, path, now=later)
        assert await dest.blobs.list("raw/") == []
        async with dest.sessions() as session:
            row = (await session.execute(select(Artifact.status, Artifact.raw_uri))).one()
    assert report.withheld_expired == 1 and report.reapplied == {}
    assert tuple(row) == ("EXPIRED", "")
    assert take
