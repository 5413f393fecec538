"""The retention walk: move the clock past each TTL, run the sweeps, and after every step
look in the blob store: exactly the promised audio remains, and nothing gone is served."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from rooms.derivatives.tasks import expire_raw, prune_derivatives
from rooms.kit.dsp import decode_wav
from rooms.live.subscriber import Subscriber
from rooms.models import Artifact, StewardAction
from tests.derivatives.conftest import (
    FOSSIL_RAW_TTL_H,
    FOSSIL_TTL_DAYS,
    OPS,
    ROOM_TTL_H,
    ingest,
    spectrum_keys,
    voice,
)
from tests.helpers import resources, run_jobs
from tests.recordings.conftest import blob_keys

HOUR = 3600.0


def swept(expired: int, raw_deleted: int, scrubbed: int = 0) -> dict[str, int]:
    """What an expire_raw run reports."""
    return {"expired": expired, "raw_deleted": raw_deleted, "scrubbed": scrubbed}


async def _rows(app: FastAPI) -> dict[int, tuple[str, str, str]]:
    async with resources(app).sessions() as session:
        rows = await session.execute(select(Artifact.id, Artifact.status, Artifact.raw_uri,
                                            Artifact.raw_sha256))
    return {int(i): (s, u, h) for i, s, u, h in rows.all()}


async def _sweeps(app: FastAPI) -> list[dict[str, Any]]:
    async with resources(app).sessions() as session:
        rows = await session.execute(select(StewardAction.payload).where(
            StewardAction.action == "retention.sweep").order_by(StewardAction.id))
    return [dict(p) for p in rows.scalars()]


async def _pool_events(sub: Subscriber, n: int) -> list[tuple[str, int]]:
    """The next `n` pool events on `surface` (posture events skipped); bounded wait, since
    on the services tier they come back through Redis."""
    out: list[tuple[str, int]] = []
    async with asyncio.timeout(10):
        while len(out) < n:
            if (waiter := sub.waiter()) is not None:
                await waiter
            text = sub.next_text()
            event = json.loads(text) if text else {}
            if event.get("event") == "pool":
                out.append((event["change"], event["artifact_id"]))
    return out


async def _next(client: httpx.AsyncClient) -> dict[str, Any] | None:
    body = (await client.get("/api/v1/pool/next")).json()
    return body["artifact"]  # type: ignore[no-any-return]


async def test_the_retention_walk(client: httpx.AsyncClient, app: FastAPI) -> None:
    ctx = resources(app).job_context()
    t0 = time.time()
    room, _ = await ingest(client, "ROOM")
    fossil, _ = await ingest(client, "FOSSIL")
    await run_jobs(app)
    rows = await _rows(app)
    room_raw, fossil_raw = rows[room][1], rows[fossil][1]
    assert set(await blob_keys(app)) == {room_raw, fossil_raw, *spectrum_keys(fossil)}
    room_url = (await client.get("/api/v1/pool/next",
                                 params={"exclude_ids": str(fossil)})).json()["artifact"]
    assert room_url["id"] == room and room_url["media_kind"] == "raw"
    image_url = (await client.get("/api/v1/surface/fossils")).json()["items"][0]["image_url"]

    # nothing is due yet: the sweep changes nothing and writes no audit row
    assert await expire_raw(ctx, t0 + 0.5 * HOUR) == swept(0, 0, 0)
    assert await _sweeps(app) == []
    async with resources(app).live.subscribe("surface") as sub:
        await _walk(client, app, t0, room, room_url, fossil, fossil_raw, image_url, sub)


async def _walk(client: httpx.AsyncClient, app: FastAPI, t0: float, room: int,
                room_url: dict[str, Any], fossil: int, fossil_raw: str, image_url: str,
                sub: Subscriber) -> None:
    ctx = resources(app).job_context()

    # past the ROOM take's TTL: its audio is gone, it is EXPIRED, its link answers 410
    assert await expire_raw(ctx, t0 + ROOM_TTL_H * HOUR + 60) == swept(1, 1, 0)
    assert set(await blob_keys(app)) == {fossil_raw, *spectrum_keys(fossil)}
    assert (await _rows(app))[room] == ("EXPIRED", "", "")
    assert (await client.get(room_url["audio_url"])).status_code == 410
    assert await _pool_events(sub, 1) == [("expired", room)]

    # past the FOSSIL's raw TTL: the raw goes, the take stays and plays its essence
    assert await expire_raw(ctx, t0 + FOSSIL_RAW_TTL_H * HOUR + 60) == swept(0, 1, 0)
    assert set(await blob_keys(app)) == spectrum_keys(fossil)
    assert (await _rows(app))[fossil] == ("ACTIVE", "", "")
    assert await _pool_events(sub, 1) == [("essence", fossil)]
    take = await _next(client)
    assert take is not None and (take["id"], take["media_kind"]) == (fossil, "essence")
    played = await client.get(take["audio_url"])
    assert (played.status_code, played.headers["content-type"]) == (200, "audio/wav")
    samples, rate = decode_wav(played.content)
    assert (rate, len(samples)) == (12_000, 96_000)
    assert (await client.get(image_url)).status_code == 200

    # the derivatives' TTL: the essence and spectrogram go, the take becomes EXPIRED
    end = t0 + FOSSIL_TTL_DAYS * 24 * HOUR + 60
    assert await prune_derivatives(ctx, end) == {"derivatives_pruned": 2, "expired": 1}
    assert await blob_keys(app) == []
    assert (await _rows(app))[fossil] == ("EXPIRED", "", "")
    assert await _pool_events(sub, 1) == [("expired", fossil)]
    assert await _next(client) is None
    assert (await client.get(take["audio_url"])).status_code == 410
    assert (await client.get(image_url)).status_code == 410
    assert (await client.get("/api/v1/surface/fossils")).json() == {"items": []}
    assert await expire_raw(ctx, end) == swept(0, 0, 0)

    assert await _sweeps(app) == [
        {"sweep": "expire_raw", **swept(1, 1)},
        {"sweep": "expire_raw", **swept(0, 1)},
        {"sweep": "prune_derivatives", "derivatives_pruned": 2, "expired": 1}]
    status = (await client.get("/api/v1/node/status", headers=OPS)).json()
    assert status["retention"]["raw_held"] == 0
    assert set(status["jobs"]["last_sweep_age_s"]) >= {"expire_raw", "prune_derivatives"}
    ready = (await client.get("/readyz")).json()
    assert "expire_raw" in ready["checks"]["jobs"]["last_sweep_age_s"]


async def test_an_essence_outliving_its_take_s_consent_does_not_keep_it(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    """The take's own expires_at ends it, whatever derivative rows say."""
    ctx = resources(app).job_context()
    t0 = time.time()
    fossil, _ = await ingest(client, "FOSSIL")
    await run_jobs(app)
    end = t0 + FOSSIL_TTL_DAYS * 24 * HOUR + 60
    assert await expire_raw(ctx, end) == swept(1, 1, 0)
    assert await blob_keys(app) == []
    assert (await _rows(app))[fossil] == ("EXPIRED", "", "")
    assert await prune_derivatives(ctx, end) == {"derivatives_pruned": 0, "expired": 0}


async def test_a_fossil_without_an_essence_expires_with_its_raw(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    ctx = resources(app).job_context()
    t0 = time.time()
    fossil, _ = await ingest(client, "FOSSIL")  # not rendered: the job never ran
    assert await expire_raw(ctx, t0 + FOSSIL_RAW_TTL_H * HOUR + 60) == swept(1, 1, 0)
    await run_jobs(app)  # the render job finds the take gone and leaves nothing
    assert await blob_keys(app) == []
    assert (await _rows(app))[fossil] == ("EXPIRED", "", "")


async def test_a_played_nosave_take_keeps_no_key_and_no_fingerprint(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    ctx = resources(app).job_context()
    resp = await client.post("/api/v1/ephemeral/audio",
                             files={"file": ("t.wav", voice(), "audio/wav")})
    assert resp.status_code == 201, resp.text
    nosave = resp.json()["artifact_id"]
    assert (await client.get(resp.json()["play_url"])).status_code == 200
    status, _, fingerprint = (await _rows(app))[nosave]
    assert status == "REVOKED" and fingerprint
    assert await expire_raw(ctx, time.time() + 3 * HOUR) == swept(0, 0, 1)
    assert (await _rows(app))[nosave] == ("REVOKED", "", "")
    assert await blob_keys(app) == []
    status_body = (await client.get("/api/v1/node/status", headers=OPS)).json()
    assert status_body["retention"]["raw_held"] == 0
