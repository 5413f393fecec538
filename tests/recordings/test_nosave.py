"""NOSAVE play-once: the first GET opens one listening window for that client; inside it
Range requests are answered; another client, or anyone after the window, gets 410, and the
blob is deleted when the window closes (CONTRACT §4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from rooms.app import create_app
from rooms.config import Settings
from rooms.models import Artifact, utcnow
from rooms.recordings.nosave import nosave_runtime
from rooms.recordings.tasks import expire_ephemeral
from tests.audio import wav16
from tests.helpers import resources
from tests.recordings.conftest import CLIENT, blob_keys, upload

OTHER = {"X-Rooms-Client-Id": "kiosk-other-02"}
WINDOW = timedelta(seconds=60)


async def nosave_take(client: httpx.AsyncClient, data: bytes) -> dict[str, Any]:
    resp = await upload(client, data, path="/api/v1/ephemeral/audio")
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def freeze(app: FastAPI, at: datetime) -> None:
    nosave_runtime(resources(app)).clock = lambda: at


async def status_of(app: FastAPI, artifact_id: int) -> tuple[str, str]:
    async with resources(app).sessions() as session:
        row = await session.get(Artifact, artifact_id)
        assert row is not None
        return row.status, row.raw_uri


async def test_the_window_serves_its_client_and_no_one_else(client: httpx.AsyncClient,
                                                            app: FastAPI) -> None:
    data = wav16(0.5)
    take = await nosave_take(client, data)
    url = take["play_url"]
    t0 = utcnow()
    freeze(app, t0)
    probe = await client.get(url, headers={**CLIENT, "Range": "bytes=0-1"})  # Safari's probe
    assert probe.status_code == 206
    assert probe.content == data[:2]
    assert probe.headers["content-range"] == f"bytes 0-1/{len(data)}"
    assert probe.headers["cache-control"] == "no-store"
    assert (await status_of(app, take["artifact_id"]))[0] == "REVOKED"  # claimed
    whole = await client.get(url, headers=CLIENT)
    assert (whole.status_code, whole.content) == (200, data)
    freeze(app, t0 + WINDOW - timedelta(seconds=1))
    seek = await client.get(url, headers={**CLIENT, "Range": "Bytes=1000-"})
    assert (seek.status_code, seek.content) == (206, data[1000:])
    stranger = await client.get(url, headers={**OTHER, "Range": "bytes=0-1"})
    assert stranger.status_code == 410
    assert stranger.json()["error"]["code"] == "gone"
    assert len(await blob_keys(app)) == 1

    freeze(app, t0 + WINDOW)
    late = await client.get(url, headers=CLIENT)
    assert late.status_code == 410
    assert await blob_keys(app) == []  # the late request found the window closed: deleted
    assert await status_of(app, take["artifact_id"]) == ("REVOKED", "")


async def test_the_job_deletes_the_blob_when_the_window_closes(client: httpx.AsyncClient,
                                                               app: FastAPI) -> None:
    """Nobody asks again (the kiosk was switched off, the process restarted): the job."""
    take = await nosave_take(client, wav16(0.5))
    t0 = utcnow()
    freeze(app, t0)
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 200
    ctx = resources(app).job_context()
    assert await expire_ephemeral(ctx, (t0 + WINDOW / 2).timestamp()) == 0
    assert len(await blob_keys(app)) == 1
    assert await expire_ephemeral(ctx, (t0 + WINDOW).timestamp()) == 1
    assert await blob_keys(app) == []
    assert await expire_ephemeral(ctx, (t0 + 2 * WINDOW).timestamp()) == 0
    freeze(app, t0 + WINDOW / 2)  # even a clock that went back finds nothing to serve
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 410


async def test_consume_inside_the_window_deletes_at_once(client: httpx.AsyncClient,
                                                         app: FastAPI) -> None:
    take = await nosave_take(client, wav16(0.5))
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 200
    consumed = await client.post("/api/v1/ephemeral/consume", json={"play_url": take["play_url"]})
    assert consumed.status_code == 200
    assert await blob_keys(app) == []
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 410


async def test_two_first_gets_at_once_open_one_window(client: httpx.AsyncClient,
                                                      app: FastAPI) -> None:
    data = wav16(0.5)
    take = await nosave_take(client, data)
    mine, theirs = await asyncio.gather(client.get(take["play_url"], headers=CLIENT),
                                        client.get(take["play_url"], headers=OTHER))
    assert sorted([mine.status_code, theirs.status_code]) == [200, 410]
    winner = CLIENT if mine.status_code == 200 else OTHER
    again = await client.get(take["play_url"], headers={**winner, "Range": "bytes=-4"})
    assert (again.status_code, again.content) == (206, data[-4:])


@asynccontextmanager
async def second_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another api process on the same database, blob store (and Redis, when configured)."""
    other = create_app(settings)
    async with other.router.lifespan_context(other), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://testserver") as c:
        yield c


async def test_the_window_holds_across_processes(client: httpx.AsyncClient, app: FastAPI,
                                                 settings: Settings) -> None:
    data = wav16(0.5)
    take = await nosave_take(client, data)
    assert (await client.get(take["play_url"], headers={**CLIENT, "Range": "bytes=0-1"})
            ).status_code == 206
    async with second_process(resources(app).settings) as elsewhere:
        there = await elsewhere.get(take["play_url"], headers={**CLIENT, "Range": "bytes=2-"})
        assert (there.status_code, there.content) == (206, data[2:])
        assert (await elsewhere.get(take["play_url"], headers=OTHER)).status_code == 410
        consumed = await elsewhere.post("/api/v1/ephemeral/consume",
                                        json={"play_url": take["play_url"]})
        assert consumed.status_code == 200
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 410
    assert await blob_keys(app) == []


async def test_an_unplayed_take_past_its_five_minutes_is_gone(client: httpx.AsyncClient,
                                                              app: FastAPI) -> None:
    take = await nosave_take(client, wav16(0.5))
    freeze(app, utcnow() + timedelta(minutes=5, seconds=1))  # the job has not run yet
    assert (await client.get(take["play_url"], headers=CLIENT)).status_code == 410
    assert await blob_keys(app) == []


async def test_a_window_opened_at_the_last_moment_outlives_the_play_url(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    import time

    from rooms.kit import tokens

    take = await nosave_take(client, wav16(0.5))
    token = take["play_url"].rsplit("/", 1)[1]
    expires = datetime.fromisoformat(take["expires_at"].replace("Z", "+00:00"))
    payload = tokens.verify(resources(app).settings.secret_key.get_secret_value(),
                            "ephemeral_audio", token)
    assert payload["exp"] >= expires.timestamp() + WINDOW.total_seconds() - 1
    assert payload["exp"] > time.time()
