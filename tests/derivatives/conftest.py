"""Derivative tests: short TTLs, FOSSIL takes with a clear voice, and the blob store's view."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from rooms.config import Settings
from rooms.kit.wav import encode_pcm16_wav
from rooms.models import Artifact, ConsentManifest, utcnow
from rooms.recordings import consent
from rooms.recordings.service import new_blob_key
from tests.audio import tone
from tests.helpers import resources
from tests.recordings.conftest import upload

ROOM_TTL_H, FOSSIL_RAW_TTL_H, FOSSIL_TTL_DAYS = 1.0, 2.0, 1.0
OPS = {"Authorization": "Bearer ops-test-secret"}


@pytest.fixture
async def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={
        "raw_ttl_hours_room": ROOM_TTL_H, "raw_ttl_hours_fossil": FOSSIL_RAW_TTL_H,
        "derivative_ttl_days_fossil": FOSSIL_TTL_DAYS})


def voice(seconds: float = 2.0, rate: int = 16_000) -> bytes:
    """A 16-bit WAV of a 1 kHz tone (short, so renders are quick)."""
    return encode_pcm16_wav((tone(seconds, rate, 1000.0) * 32767).astype("<i2").tobytes(), rate)


async def ingest(client: httpx.AsyncClient, mode: str) -> tuple[int, str]:
    resp = await upload(client, voice(), mode=mode)
    assert resp.status_code == 201, resp.text
    return resp.json()["artifact"]["id"], resp.json()["revocation_token"]


async def stored_fossil(app: FastAPI, data: bytes | None = None) -> tuple[int, str]:
    """A FOSSIL take written straight to the store and the database, with no render queued
    (so a test drives the render itself). Returns (id, revocation code)."""
    res = resources(app)
    key = new_blob_key("raw")

    async def once():  # type: ignore[no-untyped-def]
        yield data if data is not None else voice()

    await res.blobs.put(key, once())
    now = utcnow()
    code = consent.new_revocation_code(res.settings.secret_key.get_secret_value(), None)
    manifest = ConsentManifest(created_at=now, json=consent.manifest("FOSSIL", res.settings, now),
                               revocation_token_hash=consent.hash_code(code))
    artifact = Artifact(created_at=now, status="ACTIVE", consent_mode="FOSSIL", consent=manifest,
                        raw_uri=key, raw_sha256="0" * 64, duration_ms=2000, sample_rate=16_000,
                        effect_metadata={}, expires_at=now + timedelta(days=FOSSIL_TTL_DAYS),
                        raw_expires_at=now + timedelta(hours=FOSSIL_RAW_TTL_H))
    from rooms.recordings.repository import insert_take_sync

    await res.db.write(lambda conn: insert_take_sync(conn, manifest, artifact))
    return artifact.id, code


def spectrum_keys(artifact_id: int) -> set[str]:
    return {f"derivatives/{artifact_id}/spectrogram.png", f"derivatives/{artifact_id}/essence.wav"}


def decoded_rms(data: bytes) -> float:
    from rooms.kit.dsp import decode_wav

    samples, _ = decode_wav(data)
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
