"""Rendering through the job runners: the ingest queues it, the sweep catches what was lost,
a revocation mid-render leaves nothing, retries never duplicate."""

from __future__ import annotations

import io

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import func, select, text

from rooms.derivatives import service
from rooms.derivatives.tasks import render_derivatives, sweep_renders
from rooms.kit.dsp import decode_wav
from rooms.models import Derivative
from tests.derivatives.conftest import OPS, ingest, spectrum_keys, stored_fossil
from tests.helpers import resources, run_jobs
from tests.recordings.conftest import blob_keys

FAIL_TRIGGER = {
    "sqlite": ["""CREATE TRIGGER fail_derivative BEFORE INSERT ON derivative
                  BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"""],
    "postgresql": [
        """CREATE FUNCTION fail_derivative() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'disk on fire'; END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER fail_derivative BEFORE INSERT ON derivative
           FOR EACH ROW EXECUTE FUNCTION fail_derivative()"""],
}
DROP_TRIGGER = {"sqlite": "DROP TRIGGER fail_derivative",
                "postgresql": "DROP TRIGGER fail_derivative ON derivative"}


async def _derivatives(app: FastAPI) -> list[tuple[int, str, str]]:
    async with resources(app).sessions() as session:
        rows = await session.execute(select(Derivative.artifact_id, Derivative.kind,
                                            Derivative.uri).order_by(Derivative.id))
    return [(int(a), str(k), str(u)) for a, k, u in rows.all()]


async def _raw_keys(app: FastAPI) -> set[str]:
    return {k for k in await blob_keys(app) if not k.startswith("derivatives/")}


async def test_a_fossil_upload_renders_its_spectrogram_and_essence(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    """In-process in the embedded tier; a real arq worker on Redis and S3 in services."""
    room, _ = await ingest(client, "ROOM")
    fossil, _ = await ingest(client, "FOSSIL")
    await run_jobs(app)
    assert sorted(await _derivatives(app)) == [
        (fossil, "essence_wav", f"derivatives/{fossil}/essence.wav"),
        (fossil, "spectrogram_png", f"derivatives/{fossil}/spectrogram.png")]
    assert spectrum_keys(fossil) <= set(await blob_keys(app))
    assert len(await _raw_keys(app)) == 2  # the ROOM take renders nothing

    shown = await client.get("/api/v1/surface/fossils")
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    items = shown.json()["items"]
    assert len(items) == 1 and set(items[0]) == {"created_at", "image_url"}
    image = await client.get(items[0]["image_url"])
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert Image.open(io.BytesIO(image.content)).size == (900, 450)

    inventory = await client.get("/api/v1/derivatives/spectrograms", headers=OPS)
    assert inventory.status_code == 200, inventory.text
    [entry] = inventory.json()["items"]
    assert (entry["artifact_id"], entry["kind"]) == (fossil, "spectrogram_png")
    assert entry["expires_at"] is not None
    assert (await client.get(entry["image_url"])).status_code == 200
    denied = await client.get("/api/v1/derivatives/spectrograms")
    assert (denied.status_code, denied.json()["error"]["code"]) == (401, "ops_auth_required")
    assert room != fossil


async def test_the_sweep_renders_a_take_whose_enqueue_was_lost(app: FastAPI) -> None:
    fossil, _ = await stored_fossil(app)  # in the database, no job queued
    ctx = resources(app).job_context()
    assert await sweep_renders(ctx) == 1
    await run_jobs(app)
    assert {k for _, k, _ in await _derivatives(app)} == {"essence_wav", "spectrogram_png"}
    assert await sweep_renders(ctx) == 0  # nothing missing any more
    essence = await resources(app).blobs.read(f"derivatives/{fossil}/essence.wav")
    samples, rate = decode_wav(essence)
    assert (rate, len(samples)) == (12_000, 96_000)


@pytest.mark.parametrize("stage", ["rendered", "stored"])
async def test_a_revocation_during_a_render_leaves_no_row_and_no_blob(
        client: httpx.AsyncClient, app: FastAPI, stage: str) -> None:
    fossil, code = await stored_fossil(app)
    answers: list[httpx.Response] = []

    async def revoke_now(reached: str) -> None:
        if reached == stage:
            answers.append(await client.post("/api/v1/revoke", json={"token": code}))

    outcome = await service.render_take(resources(app), fossil, stage=revoke_now)
    assert answers and answers[0].json()["revoked"] == 1
    assert outcome == service.Outcome.DISCARDED
    assert await _derivatives(app) == []
    assert await blob_keys(app) == []


async def test_a_render_that_fails_twice_then_succeeds_leaves_one_of_each(
        app: FastAPI) -> None:
    fossil, _ = await stored_fossil(app)
    res = resources(app)
    async with res.engine.begin() as conn:
        dialect = conn.dialect.name
        for statement in FAIL_TRIGGER[dialect]:
            await conn.execute(text(statement))
    ctx = res.job_context()
    failures = 0
    for attempt in (1, 2, 3):  # what either runner does with max_tries=3
        if attempt == 3:
            async with res.engine.begin() as conn:
                await conn.execute(text(DROP_TRIGGER[dialect]))
        try:
            assert await render_derivatives({**ctx, "job_try": attempt}, fossil) == "rendered"
        except Exception:
            failures += 1
    assert failures == 2
    assert sorted(k for _, k, _ in await _derivatives(app)) == ["essence_wav", "spectrogram_png"]
    assert set(await blob_keys(app)) == await _raw_keys(app) | spectrum_keys(fossil)
    # a re-run (the sweep, a duplicate job) overwrites: still one of each
    assert await render_derivatives(ctx, fossil) == "rendered"
    async with res.sessions() as session:
        assert (await session.execute(select(func.count(Derivative.id)))).scalar_one() == 2
