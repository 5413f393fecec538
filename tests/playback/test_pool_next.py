"""GET /api/v1/pool/next: what the room is handed to play."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from rooms.models import utcnow
from rooms.playback.runtime import PoolRuntime
from tests.playback.conftest import row, steward, take, update
from tests.recordings.conftest import upload

pytestmark = pytest.mark.usefixtures("runtime")
KEYS = {"id", "lane", "density", "mood", "wear", "play_count", "duration_ms", "effect_profile",
        "topic_tag", "media_kind", "loudness_lufs", "audio_url", "playback_ack_url"}


async def _next(client: httpx.AsyncClient, **params: str) -> dict:  # type: ignore[type-arg]
    resp = await client.get("/api/v1/pool/next", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body: dict = resp.json()  # type: ignore[type-arg]
    assert set(body) == {"artifact", "pool_size", "thread_signal", "reason"}
    return body


async def test_an_empty_archive_says_empty_pool(client: httpx.AsyncClient) -> None:
    assert await _next(client) == {"artifact": None, "pool_size": 0, "thread_signal": None,
                                   "reason": "empty_pool"}


async def test_a_take_comes_back_playable_and_unworn(client: httpx.AsyncClient,
                                                     app: FastAPI) -> None:
    ids = {await take(client, 1.0, topic_tag="harbour"), await take(client, 6.0)}
    body = await _next(client)
    art = body["artifact"]
    assert body["reason"] is None and body["pool_size"] == 2 and body["thread_signal"] is None
    assert set(art) == KEYS and art["id"] in ids
    assert art["lane"] == "fresh" and art["media_kind"] == "raw"
    assert (art["density"], art["mood"]) in {("light", "clear"), ("medium", "gathering")}
    # signed tokens, never a bare id
    assert re.fullmatch(r"/api/v1/media/raw/[\w-]+\.[\w-]+", art["audio_url"])
    assert re.fullmatch(r"/api/v1/pool/heard/[\w-]+\.[\w-]+", art["playback_ack_url"])
    audio = await client.get(art["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
    after = await row(app, art["id"])
    assert (after.wear, after.play_count, after.last_access_at) == (0.0, 0, None)


async def test_revoked_nosave_and_expired_takes_never_come_back(client: httpx.AsyncClient,
                                                                app: FastAPI) -> None:
    keep = await take(client)
    revoked = await upload(client)
    code = revoked.json()["revocation_token"]
    assert (await client.post("/api/v1/revoke", json={"token": code})).status_code == 200
    expired = await take(client)
    await update(app, expired, expires_at=utcnow() - timedelta(seconds=1))
    gone_status = await take(client)
    await update(app, gone_status, status="EXPIRED")
    nosave = await upload(client, path="/api/v1/ephemeral/audio")
    assert nosave.status_code == 201
    for _ in range(15):
        body = await _next(client)
        assert body["artifact"]["id"] == keep and body["pool_size"] == 1


async def test_exclude_ids_are_honoured_until_nothing_else_is_left(
        client: httpx.AsyncClient) -> None:
    a, b, c = [await take(client) for _ in range(3)]
    seen = {(await _next(client, exclude_ids=f"{a},{b}"))["artifact"]["id"] for _ in range(10)}
    assert seen == {c}
    # everything excluded: the room still gets something rather than silence
    assert (await _next(client, exclude_ids=f"{a},{b},{c}"))["artifact"]["id"] in {a, b, c}
    # ids past the first 50 are ignored, blanks skipped
    many = ",".join(["999999"] * 50 + [str(a), str(b)])
    assert (await _next(client, exclude_ids=many + ",,"))["artifact"] is not None


@pytest.mark.parametrize("params", [{"exclude_ids": "1,two"}, {"exclude_ids": "-3"},
                                    {"exclude_ids": "1e9"}, {"lane": "stale"},
                                    {"density": "huge"}, {"mood": "angry"},
                                    {"exclude_ids": "9" * 40},
                                    {"exclude_ids": "2147483648"},  # past PostgreSQL's integer
                                    {"exclude_ids": "0" * 30 + "9" * 30}])
async def test_bad_parameters_are_400_json(client: httpx.AsyncClient,
                                           params: dict[str, str]) -> None:
    resp = await client.get("/api/v1/pool/next", params=params)
    assert resp.status_code == 400, resp.text
    assert set(resp.json()["error"]) == {"code", "message"}


async def test_requested_lane_narrows_when_it_can_and_falls_back_when_not(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    fresh = await take(client)
    worn = await take(client, 20.0)  # dense
    await update(app, worn, wear=0.6, play_count=9)
    for _ in range(10):
        assert (await _next(client, lane="worn"))["artifact"]["id"] == worn
        assert (await _next(client, lane="fresh", density="any"))["artifact"]["id"] == fresh
        assert (await _next(client, mood="weathered"))["artifact"]["id"] == worn
        assert (await _next(client, density="light"))["artifact"]["id"] == fresh
    await update(app, worn, status="REVOKED")
    body = await _next(client, lane="worn", mood="weathered")  # none left: fall back
    assert body["artifact"]["id"] == fresh and body["artifact"]["lane"] == "fresh"


async def test_playback_paused_hands_out_nothing(client: httpx.AsyncClient,
                                                 app: FastAPI) -> None:
    await take(client)
    await steward(app, playback_paused=True)
    assert await _next(client) == {"artifact": None, "pool_size": 1, "thread_signal": None,
                                   "reason": "playback_paused"}


async def test_an_open_question_thread_is_signalled(client: httpx.AsyncClient,
                                                    app: FastAPI) -> None:
    art = await take(client, topic_tag="bridge")
    await update(app, art, deployment_kind="question", lifecycle_status="open")
    signal = (await _next(client))["thread_signal"]
    assert signal == {"kind": "question_chorus", "deployment": "question",
                      "topic_tag": "bridge", "lifecycle_status": "open"}
    await update(app, art, lifecycle_status="answered")
    assert (await _next(client))["thread_signal"] is None
    await update(app, art, deployment_kind="repair", lifecycle_status="in_progress")
    assert (await _next(client))["thread_signal"]["kind"] == "repair_bench"
    await update(app, art, lifecycle_status="fixed")
    assert (await _next(client))["thread_signal"] is None


async def test_a_worn_often_heard_take_is_picked_less_often(
        client: httpx.AsyncClient, app: FastAPI, runtime: PoolRuntime) -> None:
    fresh, worn = await take(client), await take(client)
    await update(app, worn, wear=0.9, play_count=12,
                 last_access_at=utcnow() - timedelta(minutes=30))
    runtime.rng = random.Random(2026)
    picks = [(await _next(client))["artifact"]["id"] for _ in range(200)]
    # weights 2.46 vs 0.10 (floored): the worn take gets about 4 % of the draws
    assert picks.count(fresh) > 170 and 1 <= picks.count(worn) <= 20
