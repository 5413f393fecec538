"""Ingest: every rule with real WAV bytes, consent manifests, idempotency, budgets."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.models import Artifact, ConsentManifest
from tests.audio import wav8, wav16, wav_float, wav_raw
from tests.helpers import resources, set_posture
from tests.recordings.conftest import CLIENT, artifact_count, blob_keys, upload


async def test_room_take_is_stored_with_its_consent(client: httpx.AsyncClient,
                                                    app: FastAPI) -> None:
    data = wav16(2.5)
    resp = await upload(client, data, duration_ms="999999", topic_tag="harbour")
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    art = body["artifact"]
    assert (art["status"], art["consent_mode"], art["duration_ms"], art["sample_rate"]) == (
        "ACTIVE", "ROOM", 2500, 48000)  # duration from the samples, not the client's claim
    assert (art["wear"], art["play_count"], art["effect_profile"], art["topic_tag"]) == (
        0.0, 0, "clear", "harbour")
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{10}", body["revocation_token"])  # Crockford
    assert art["created_at"].endswith("Z") and art["expires_at"].endswith("Z")
    res = resources(app)
    async with res.sessions() as session:
        row = await session.get(Artifact, art["id"])
        assert row is not None
        manifest = await session.get(ConsentManifest, row.consent_id)
    assert re.fullmatch(r"raw/\d{4}/\d{2}/\d{2}/[0-9a-f]{20}\.wav", row.raw_uri)  # README
    assert await res.blobs.read(row.raw_uri) == data
    assert await blob_keys(app) == [row.raw_uri]
    assert manifest is not None
    assert manifest.revocation_token_hash == hashlib.sha256(
        body["revocation_token"].encode()).hexdigest()
    assert body["revocation_token"] not in str(manifest.json)
    assert manifest.json["mode"] == "ROOM" and manifest.json["derive_allowed"] == []
    assert manifest.json["retention"]["raw_ttl_hours"] == 48
    assert row.raw_sha256 == hashlib.sha256(data).hexdigest()


async def test_fossil_manifest_allows_derivatives(client: httpx.AsyncClient,
                                                  app: FastAPI) -> None:
    resp = await upload(client, mode="FOSSIL", effect_profile="dream")
    assert resp.status_code == 201, resp.text
    async with resources(app).sessions() as session:
        manifest = (await session.execute(select(ConsentManifest))).scalar_one()
    assert manifest.json["derive_allowed"] == ["spectrogram_png", "essence_wav"]
    assert resp.json()["artifact"]["effect_profile"] == "dream"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (wav16(1.0, channels=2), 400, "not_mono"),
        (wav8(), 415, "unsupported_format"),
        (wav_float(bits=64), 415, "unsupported_format"),
        (wav16(1.0)[:30], 400, "invalid_wav"),
        (wav_raw(1, 16, b""), 400, "empty_audio"),
        (wav16(31.0, rate=8000), 413, "too_long"),
        (b"this is a text file with a .wav name\n" * 10, 415, "invalid_wav"),
        (b"", 400, "empty_audio"),
        (wav16(1.0, rate=4000), 400, "bad_sample_rate"),
    ],
    ids=["stereo", "8bit", "float64", "truncated-header", "empty", "over-long",
         "not-wav", "zero-bytes", "low-rate"],
)
async def test_bad_audio_is_refused_and_nothing_is_kept(
        client: httpx.AsyncClient, app: FastAPI, data: bytes, status: int, code: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    resources(app).settings.ingest_max_duration_seconds = 30
    resp = await upload(client, data)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert await artifact_count(app) == 0
    assert await blob_keys(app) == []


CASES = Path(__file__).parents[1] / "kit" / "cases"  # the field cases, see its README


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.glob("*.wav")))
async def test_wav_files_from_the_field_are_accepted_as_players_read_them(
        client: httpx.AsyncClient, name: str) -> None:
    data = (CASES / name).read_bytes()
    resp = await upload(client, data)
    assert resp.status_code == 201, resp.text
    art = resp.json()["artifact"]
    assert (art["duration_ms"], art["sample_rate"]) == (500, 16_000)
    pool = (await client.get("/api/v1/pool/next")).json()
    audio = await client.get(pool["artifact"]["audio_url"])
    assert (audio.status_code, audio.content) == (200, data)  # served back as uploaded


async def test_data_size_past_the_end_counts_the_whole_frames_sent(
        client: httpx.AsyncClient) -> None:
    cut = wav16(1.0)[:-1001]  # the data chunk claims more than was sent, and half a frame
    resp = await upload(client, cut)
    assert resp.status_code == 201, resp.text
    assert resp.json()["artifact"]["duration_ms"] == (48_000 - 501) * 1000 // 48_000


async def test_float32_and_24bit_are_accepted(client: httpx.AsyncClient) -> None:
    assert (await upload(client, wav_float(bits=32))).status_code == 201
    pcm24 = b"".join(int(v * 8_000_000).to_bytes(3, "little", signed=True)
                     for v in [0.1, -0.2, 0.3] * 1000)
    resp = await upload(client, wav_raw(1, 24, pcm24, rate=48_000))
    assert resp.status_code == 201, resp.text
    assert resp.json()["artifact"]["duration_ms"] == 62


async def test_over_size_upload_is_refused_before_it_is_read(client: httpx.AsyncClient,
                                                             app: FastAPI) -> None:
    resources(app).settings.ingest_max_upload_bytes = 64 * 1024
    sent = 0

    async def endless_body() -> httpx.AsyncByteStream:  # type: ignore[misc]
        nonlocal sent
        head = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
                b"Content-Type: audio/wav\r\n\r\n") + wav16(0.1)
        sent += len(head)
        yield head
        for _ in range(20_000):  # up to ~1.3 GB if the server kept reading
            sent += 65536
            yield b"\0" * 65536

    resp = await client.post("/api/v1/artifacts/audio", content=endless_body(),
                              headers={**CLIENT, "Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "too_large"
    assert sent < 1024 * 1024  # stopped within a few chunks of the 64 KiB ceiling
    assert await blob_keys(app) == []


@pytest.mark.parametrize(
    ("fields", "code"),
    [({"consent_mode": "FOREVER"}, "invalid_consent_mode"),
     ({"effect_profile": "chorus"}, "invalid_effect_profile"),
     ({"topic_tag": "x" * 65}, "invalid_topic_tag")],
)
async def test_bad_fields_get_clear_codes(client: httpx.AsyncClient, app: FastAPI,
                                          fields: dict[str, str], code: str) -> None:
    extra = dict(fields)  # the parameter dict is shared by both tiers: never mutate it
    mode = extra.pop("consent_mode", "ROOM")
    resp = await upload(client, mode=mode, **extra)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == code
    if code == "invalid_effect_profile":
        assert resp.json()["error"]["message"] == (
            "effect_profile must be one of: clear, warm, radio, dream.")
    assert await blob_keys(app) == []


@pytest.mark.parametrize("mode", [None, "", "  "], ids=["absent", "empty", "blank"])
async def test_consent_is_never_assumed(client: httpx.AsyncClient, app: FastAPI,
                                        mode: str | None) -> None:
    form = {} if mode is None else {"consent_mode": mode}
    resp = await client.post("/api/v1/artifacts/audio", data=form, headers=CLIENT,
                             files={"file": ("take.wav", wav16(1.0), "audio/wav")})
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "consent_required")
    assert "ROOM or FOSSIL" in resp.json()["error"]["message"]
    assert await artifact_count(app) == 0
    assert await blob_keys(app) == []


async def test_missing_file_and_wrong_content_type(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/artifacts/audio", data={"consent_mode": "ROOM"},
                             files={"other": ("x.txt", b"hi", "text/plain")})
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "missing_file")
    resp = await client.post("/api/v1/artifacts/audio", json={"file": "nope"})
    assert (resp.status_code, resp.json()["error"]["code"]) == (415, "unsupported_media_type")


async def test_idempotent_retry_returns_the_first_response(client: httpx.AsyncClient,
                                                           app: FastAPI) -> None:
    key = {"Idempotency-Key": "take-7f3a"}
    first = await upload(client, headers=key)
    second = await upload(client, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert await artifact_count(app) == 1
    other = await upload(client, headers={"Idempotency-Key": "take-other"})
    assert other.json()["artifact"]["id"] != first.json()["artifact"]["id"]


async def test_intake_paused(client: httpx.AsyncClient, app: FastAPI) -> None:
    await set_posture(resources(app), intake_paused=True)
    resp = await upload(client)
    assert (resp.status_code, resp.json()["error"]["code"]) == (503, "intake_paused")
    assert await artifact_count(app) == 0


async def test_ingest_budget_per_kiosk(client: httpx.AsyncClient, app: FastAPI) -> None:
    resources(app).settings.public_ingest_rate = "2/hour"
    assert [(await upload(client)).status_code for _ in range(2)] == [201, 201]
    resp = await upload(client)
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "ingest_budget_exceeded"
    assert 0 < int(resp.headers["retry-after"]) <= 3600
    other = await upload(client, headers={"X-Rooms-Client-Id": "kiosk-test-02"})
    assert other.status_code == 201  # another kiosk has its own budget
