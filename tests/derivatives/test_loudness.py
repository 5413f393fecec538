"""Even loudness: each take's integrated loudness (BS.1770, LUFS) is measured by a job, off
the request, stored, and handed to the room with pool/next (docs/loudness.md)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import numpy as np
import pyloudnorm
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.derivatives import loudness, repository, service
from rooms.derivatives.tasks import sweep_loudness
from rooms.kit.dsp import decode_wav
from rooms.kit.wav import encode_pcm16_wav
from rooms.models import Artifact, utcnow
from rooms.playback.runtime import pool_runtime
from tests.derivatives.conftest import FOSSIL_RAW_TTL_H, stored_fossil
from tests.helpers import resources, run_jobs, writing
from tests.recordings.conftest import upload

RATE = 16_000


def noise_wav(seconds: float, rms: float, seed: int = 7) -> bytes:
    """A 16-bit WAV of white noise at about `rms` (full scale 1.0)."""
    samples = np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * rms
    ints = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    return encode_pcm16_wav(ints.tobytes(), RATE)


def tone_wav(seconds: float, amplitude: float, freq: float = 1000.0) -> bytes:
    t = np.arange(int(seconds * RATE)) / RATE
    ints = np.round(amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    return encode_pcm16_wav(ints.tobytes(), RATE)


def direct(wav: bytes) -> float:
    """pyloudnorm's own figure for the WAV, as a reader of the standard would compute it."""
    samples, rate = decode_wav(wav)
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


# --- the measurement --------------------------------------------------------------------------

@pytest.mark.parametrize("wav", [tone_wav(3.0, 0.5), tone_wav(2.0, 0.02, 300.0),
                                 noise_wav(3.0, 0.1), noise_wav(1.0, 0.003)],
                         ids=["loud-tone", "quiet-tone", "noise", "faint-noise"])
def test_the_measurement_is_pyloudnorms_figure(wav: bytes) -> None:
    assert abs(loudness.measure_wav(wav) - direct(wav)) <= 0.01


def test_a_full_scale_1khz_sine_reads_minus_3_lufs() -> None:
    """BS.1770's own calibration: a 0 dBFS 997 Hz sine in one channel is -3.01 LKFS."""
    t = np.arange(5 * 48_000) / 48_000
    assert loudness.measure(np.sin(2 * np.pi * 997 * t), 48_000) == pytest.approx(-3.01, abs=0.05)


def test_silence_and_empty_takes_store_the_floor_and_short_ones_are_looped() -> None:
    assert loudness.measure(np.zeros(RATE), RATE) == loudness.FLOOR_LUFS == -70.0
    assert loudness.measure(np.full(RATE, 1e-6), RATE) == -70.0  # below the absolute gate
    assert loudness.measure(np.zeros(0), RATE) == -70.0
    steady, _ = decode_wav(tone_wav(2.0, 0.25))
    short = steady[: RATE // 10]  # 100 ms: shorter than one 400 ms block
    assert loudness.measure(short, RATE) == pytest.approx(loudness.measure(steady, RATE),
                                                          abs=0.5)


# --- through the jobs ---------------------------------------------------------------------------

async def _stored_room_take(app: FastAPI, wav: bytes) -> int:
    """A ROOM take written straight to the store and the database, no job queued."""
    artifact_id, _ = await stored_fossil(app, wav)
    async with writing(resources(app)) as session:
        row = await session.get(Artifact, artifact_id)
        assert row is not None
        row.consent_mode = "ROOM"  # type: ignore[assignment]
    return artifact_id


async def _stored(app: FastAPI, artifact_id: int) -> tuple[float | None, float | None]:
    async with resources(app).sessions() as session:
        row = (await session.execute(select(Artifact.loudness_lufs,
                                            Artifact.essence_loudness_lufs)
                                     .where(Artifact.id == artifact_id))).one()
    return row[0], row[1]


async def _next_loudness(client: httpx.AsyncClient) -> tuple[str, float | None]:
    body = (await client.get("/api/v1/pool/next")).json()
    assert body["artifact"] is not None, body
    return body["artifact"]["media_kind"], body["artifact"]["loudness_lufs"]


async def test_pool_next_sends_null_until_the_job_has_measured_the_take(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    wav = noise_wav(3.0, 0.05)
    artifact_id = await _stored_room_take(app, wav)
    assert await _next_loudness(client) == ("raw", None)

    res = resources(app)
    assert await res.jobs.enqueue(service.MEASURE_JOB, artifact_id,
                                  job_id=service.measure_job_id(artifact_id))
    await run_jobs(app)
    kind, measured = await _next_loudness(client)
    assert kind == "raw" and measured is not None
    assert abs(measured - direct(wav)) <= 0.5
    assert await _stored(app, artifact_id) == (measured, None)


async def test_an_upload_queues_its_measurement_and_a_fossil_measures_as_it_renders(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    loud, quiet = tone_wav(2.0, 0.5), noise_wav(2.0, 0.01)
    room = (await upload(client, loud, mode="ROOM")).json()["artifact"]["id"]
    fossil = (await upload(client, quiet, mode="FOSSIL")).json()["artifact"]["id"]
    await run_jobs(app)
    room_lufs, room_essence = await _stored(app, room)
    fossil_lufs, fossil_essence = await _stored(app, fossil)
    assert room_lufs is not None and abs(room_lufs - direct(loud)) <= 0.5
    assert room_essence is None  # a ROOM take has no essence
    assert fossil_lufs is not None and abs(fossil_lufs - direct(quiet)) <= 0.5
    assert fossil_essence is not None and -60 < fossil_essence < 0
    # the louder take is told to turn down, the quieter one up: they meet at the target
    assert room_lufs - fossil_lufs > 15


async def test_an_essence_only_take_sends_its_essences_loudness(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    artifact_id, _ = await stored_fossil(app, noise_wav(2.0, 0.02))
    await resources(app).jobs.enqueue(service.RENDER_JOB, artifact_id)
    await run_jobs(app)
    raw_lufs, essence_lufs = await _stored(app, artifact_id)
    assert raw_lufs is not None and essence_lufs is not None and raw_lufs != essence_lufs
    assert await _next_loudness(client) == ("raw", raw_lufs)
    rt = pool_runtime(resources(app))
    rt.clock = lambda: utcnow() + timedelta(hours=FOSSIL_RAW_TTL_H + 0.1)  # raw past its TTL
    assert await _next_loudness(client) == ("essence", essence_lufs)


async def test_the_sweep_measures_what_no_job_was_queued_for_and_then_rests(
        app: FastAPI) -> None:
    res = resources(app)
    silent = await _stored_room_take(app, encode_pcm16_wav(bytes(2 * RATE), RATE))
    voiced = await _stored_room_take(app, tone_wav(1.0, 0.1))
    assert await sweep_loudness({"resources": res}) == 2
    await run_jobs(app)
    assert (await _stored(app, silent))[0] == -70.0  # silence: the floor, never null
    assert (await _stored(app, voiced))[0] is not None
    assert await sweep_loudness({"resources": res}) == 0


async def test_one_job_measures_a_burst_of_takes_and_the_others_find_nothing_left(
        app: FastAPI) -> None:
    """A burst of uploads: the first job measures every take still waiting (up to
    MEASURE_BATCH, newest first) with one trip to the render pool and one write; the jobs
    queued for the others then have nothing to do. A revoked take is never measured."""
    res = resources(app)
    wavs = [tone_wav(1.0, 0.02 * (i + 1)) for i in range(4)]
    takes = [await _stored_room_take(app, wav) for wav in wavs]
    gone = await _stored_room_take(app, tone_wav(1.0, 0.3))
    async with writing(res) as session:
        row = await session.get(Artifact, gone)
        assert row is not None
        row.status = "REVOKED"  # type: ignore[assignment]
    first = await service.measure_take(res, takes[0])
    assert set(first) == {"loudness_lufs"}
    for take, wav in zip(takes, wavs, strict=True):
        lufs = (await _stored(app, take))[0]
        assert lufs is not None and abs(lufs - direct(wav)) <= 0.5
    assert await _stored(app, gone) == (None, None)
    assert [await service.measure_take(res, take) for take in takes[1:]] == [{}, {}, {}]


async def test_a_take_that_cannot_be_measured_does_not_ride_along_with_later_jobs(
        app: FastAPI) -> None:
    """Its audio is gone from the store: the jobs of newer takes never pick it up."""
    res = resources(app)
    lost = await _stored_room_take(app, tone_wav(0.5, 0.1))
    async with writing(res) as session:
        row = await session.get(Artifact, lost)
        assert row is not None
        await res.blobs.delete(row.raw_uri)
    later = await _stored_room_take(app, tone_wav(0.5, 0.1))
    todo = await res.db.read(lambda conn: repository.to_measure(
        conn, later, utcnow(), service.MEASURE_BATCH))
    assert list(todo) == [later]
    assert set(await service.measure_take(res, later)) == {"loudness_lufs"}
    assert await service.measure_take(res, lost) == {}  # gone: nothing stored, no error
    assert await _stored(app, lost) == (None, None)


async def test_a_job_measures_at_most_one_batch(app: FastAPI) -> None:
    res = resources(app)
    takes = [await _stored_room_take(app, tone_wav(0.5, 0.1))
             for _ in range(service.MEASURE_BATCH + 2)]
    await service.measure_take(res, takes[0])
    measured = [(await _stored(app, take))[0] is not None for take in takes]
    # its own take, then the newest others: the two oldest after the first wait their turn
    assert measured == [True, False, False] + [True] * (service.MEASURE_BATCH - 1)
