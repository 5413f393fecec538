"""One playability rule: the SQL form and the Python form agree, and every reader obeys it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.access.media_tokens import POOL_AUDIO, media_url
from rooms.models import (
    Artifact,
    ArtifactStatus,
    ConsentManifest,
    ConsentMode,
    Derivative,
    DerivativeKind,
    utcnow,
)
from rooms.ops.status import node_status
from rooms.playback import playable
from tests.helpers import resources, writing
from tests.ops.conftest import SECRET
from tests.playback.conftest import take, update
from tests.recordings.conftest import upload

pytestmark = pytest.mark.usefixtures("runtime")
NOW = datetime.fromisoformat("2026-11-24T12:00:00.250000+00:00")
HOUR = timedelta(hours=1)
# unset, past, exactly now (already over: "later than now" is strict), future
MOMENTS: tuple[datetime | None, ...] = (None, NOW - HOUR, NOW, NOW + HOUR)
ESSENCES: tuple[tuple[DerivativeKind, datetime | None] | None, ...] = (
    None, *((DerivativeKind.ESSENCE_WAV, m) for m in MOMENTS),
    (DerivativeKind.SPECTROGRAM_PNG, NOW + HOUR))  # a spectrogram is nothing to play
RAWS: tuple[tuple[str, datetime | None], ...] = (
    ("", NOW + HOUR), *(("raw/x/audio.wav", m) for m in MOMENTS))
HELD = (False, True)  # MODERATION=hold: waiting for a steward's review
GRID = list(itertools.product(ArtifactStatus, ConsentMode, MOMENTS, RAWS, ESSENCES, HELD))


@pytest.fixture
async def grid(app: FastAPI) -> AsyncIterator[list[tuple[Artifact, list[Derivative]]]]:
    """Every combination of status, consent mode, expiry, raw audio and essence, stored."""
    async with writing(resources(app)) as session:
        consent = ConsentManifest(json={}, revocation_token_hash="0" * 64)
        session.add(consent)
        await session.flush()
        artifacts = [Artifact(consent_id=consent.id, effect_metadata={}, status=status,
                              consent_mode=mode, expires_at=expires, raw_uri=raw_uri,
                              raw_expires_at=raw_expires, created_at=NOW - HOUR, held=held)
                     for status, mode, expires, (raw_uri, raw_expires), _, held in GRID]
        session.add_all(artifacts)
        await session.flush()
        derived: list[list[Derivative]] = []
        for artifact, (*_, essence, _) in zip(artifacts, GRID, strict=True):
            rows = [] if essence is None else [Derivative(
                artifact_id=artifact.id, kind=essence[0], uri=f"derivatives/{artifact.id}/x",
                expires_at=essence[1])]
            session.add_all(rows)
            derived.append(rows)
    yield list(zip(artifacts, derived, strict=True))


async def test_the_sql_and_python_forms_agree_on_every_kind_of_take(
        app: FastAPI, grid: list[tuple[Artifact, list[Derivative]]]) -> None:
    async with resources(app).sessions() as session:
        rows = {i: (bool(p), bool(live), bool(raw)) for i, p, live, raw in (await session.execute(
            select(Artifact.id, playable.playable_clause(NOW), playable.live_clause(NOW),
                   playable.raw_clause(NOW)))).all()}
        where = {hints: set((await session.execute(select(Artifact.id).where(
            playable.playable_clause(NOW, use_status_index=hints[0],
                                     use_expiry_index=hints[1])))).scalars())
                 for hints in itertools.product((True, False), repeat=2)}
    assert len(rows) == len(GRID)
    in_python = {a.id: (playable.is_playable(a, NOW, ds), playable.is_live(a, NOW),
                        playable.has_raw(a, NOW)) for a, ds in grid}
    assert rows == in_python
    expected = {i for i, (p, _, _) in in_python.items() if p}
    assert all(found == expected for found in where.values())
    # and the rule is the documented one, not merely one both forms share by accident
    for (status, mode, expires, (raw_uri, raw_expires), essence, held), (a, ds) in zip(
            GRID, grid, strict=True):
        live = (status == "ACTIVE" and mode != "NOSAVE" and expires is not None
                and expires > NOW)
        raw = raw_uri != "" and (raw_expires is None or raw_expires > NOW)
        essence_ok = (essence is not None and essence[0] == "essence_wav"
                      and (essence[1] is None or essence[1] > NOW))
        assert in_python[a.id] == (live and not held and (raw or essence_ok), live, raw), (
            status, mode, held)
        key = playable.audio_key(a, NOW, ds)
        assert key == (None if not in_python[a.id][0] else a.raw_uri if raw else ds[0].uri)
        # a steward reviewing it (or its own visitor) hears a held take; nobody else does
        review = playable.audio_key(a, NOW, ds, review=True)
        assert review == (None if not (live and (raw or essence_ok))
                          else a.raw_uri if raw else ds[0].uri)
    assert 0 < len(expected) < len(GRID) // 10  # the grid reaches both answers


async def _essence(app: FastAPI, artifact_id: int, expires_at: datetime | None) -> str:
    res = resources(app)
    key = f"derivatives/{artifact_id}/essence.wav"

    async def body() -> AsyncIterator[bytes]:
        yield b"RIFF essence bytes"

    await res.blobs.put(key, body())
    async with writing(res) as session:
        session.add(Derivative(artifact_id=artifact_id, kind=DerivativeKind.ESSENCE_WAV,
                               uri=key, expires_at=expires_at))
    return key


async def _operator_row(client: httpx.AsyncClient, artifact_id: int) -> dict[str, Any]:
    listing = await client.get("/api/v1/operator/artifacts",
                               headers={"Authorization": f"Bearer {SECRET}"})
    assert listing.status_code == 200, listing.text
    item: dict[str, Any] = next(a for a in listing.json()["items"] if a["id"] == artifact_id)
    return item


async def test_a_fossil_plays_its_essence_after_its_raw_audio_expires_then_leaves(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    fossil = (await upload(client, mode="FOSSIL")).json()["artifact"]["id"]
    now = utcnow()
    # the raw audio is past its time but not yet swept: it must not be played any more
    await update(app, fossil, raw_expires_at=now - timedelta(seconds=1))
    essence = await _essence(app, fossil, now + HOUR)
    body = (await client.get("/api/v1/pool/next")).json()
    assert body["artifact"]["id"] == fossil and body["artifact"]["media_kind"] == "essence"
    audio = await client.get(body["artifact"]["audio_url"])
    assert audio.status_code == 200 and audio.content == b"RIFF essence bytes"
    heard = await client.post(body["artifact"]["playback_ack_url"])
    assert heard.status_code == 200 and heard.json()["counted"] is True
    assert (await _operator_row(client, fossil))["playable"] is True
    assert (await node_status(resources(app)))["playable"] == 1

    async with writing(resources(app)) as session:
        row = (await session.execute(select(Derivative).where(
            Derivative.uri == essence))).scalar_one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    body = (await client.get("/api/v1/pool/next")).json()
    assert (body["artifact"], body["reason"]) == (None, "empty_pool")
    assert (await client.get(media_url(resources(app).settings, POOL_AUDIO,
                                       fossil))).status_code == 410
    again = await client.post(heard.request.url.path)  # its counted token, asked again
    assert again.status_code == 410
    assert (await _operator_row(client, fossil))["playable"] is False
    assert (await node_status(resources(app)))["playable"] == 0


async def test_an_active_take_marked_nosave_is_never_played(client: httpx.AsyncClient,
                                                             app: FastAPI) -> None:
    odd = await take(client)
    await update(app, odd, consent_mode=ConsentMode.NOSAVE)
    assert (await client.get("/api/v1/pool/next")).json()["reason"] == "empty_pool"
    url = media_url(resources(app).settings, POOL_AUDIO, odd)
    assert (await client.get(url)).status_code == 410
    assert (await _operator_row(client, odd))["playable"] is False
