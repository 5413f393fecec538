"""Revocation and the media proxy: after a revoke nothing of the take is served or stored."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.access.media_tokens import POOL_AUDIO, media_url
from rooms.kit import tokens
from rooms.models import Artifact, ConsentManifest, Derivative, StewardAction, utcnow
from tests.audio import wav16
from tests.helpers import resources, run_jobs, writing
from tests.recordings.conftest import blob_keys, upload


async def _fossil_with_derivatives(client: httpx.AsyncClient, app: FastAPI) -> tuple[int, str]:
    """A FOSSIL take plus its spectrogram and essence, rendered by the derivatives job."""
    body = (await upload(client, mode="FOSSIL")).json()
    await run_jobs(app)
    return body["artifact"]["id"], body["revocation_token"]


async def _once(data: bytes):  # type: ignore[no-untyped-def]
    yield data


async def _keys_of(app: FastAPI, artifact_id: int) -> set[str]:
    async with resources(app).sessions() as session:
        row = await session.get(Artifact, artifact_id)
        derived = (await session.execute(select(Derivative.uri).where(
            Derivative.artifact_id == artifact_id))).scalars().all()
    assert row is not None
    return {row.raw_uri, *derived} - {""}


async def test_revoke_deletes_every_blob_then_answers(client: httpx.AsyncClient,
                                                      app: FastAPI) -> None:
    keep = (await upload(client)).json()["artifact"]["id"]
    artifact_id, code = await _fossil_with_derivatives(client, app)
    url = media_url(resources(app).settings, POOL_AUDIO, artifact_id)
    assert (await client.get(url)).status_code == 200
    doomed, kept = await _keys_of(app, artifact_id), await _keys_of(app, keep)
    assert len(doomed) == 3 and doomed <= set(await blob_keys(app))

    resp = await client.post("/api/v1/revoke", json={"token": code.lower()})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"revoked": 1, "derivatives_deleted": 2}
    assert resp.headers["cache-control"] == "no-store"
    assert not doomed & set(await blob_keys(app))
    assert set(await blob_keys(app)) == kept  # other takes untouched
    gone = await client.get(url)
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "gone")
    async with resources(app).sessions() as session:
        assert (await session.execute(select(Derivative))).scalars().all() == []
        actions = (await session.execute(select(StewardAction))).scalars().all()
    assert [a.action for a in actions] == ["revocation.completed"]
    again = await client.post("/api/v1/revoke", json={"token": code})
    assert again.json() == {"revoked": 0, "derivatives_deleted": 0}


async def test_unknown_code_is_404(client: httpx.AsyncClient) -> None:
    for token in ("ZZZZZZZZZZ", "not a code at all", "A"):
        resp = await client.post("/api/v1/revoke", json={"token": token})
        assert (resp.status_code, resp.json()["error"]["code"]) == (404, "unknown_token")
    resp = await client.post("/api/v1/revoke", json={})
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "invalid_request")


async def test_revoke_is_throttled(client: httpx.AsyncClient, app: FastAPI) -> None:
    resources(app).settings.public_revoke_rate = "3/hour"
    codes = [(await client.post("/api/v1/revoke", json={"token": "ZZZZZZZZZZ"})).status_code
             for _ in range(4)]
    assert codes == [404, 404, 404, 429]


async def test_media_ranges_and_tokens(client: httpx.AsyncClient, app: FastAPI) -> None:
    data = wav16(1.0)
    artifact_id = (await upload(client, data)).json()["artifact"]["id"]
    settings = resources(app).settings
    url = media_url(settings, POOL_AUDIO, artifact_id)
    full = await client.get(url)
    assert (full.status_code, full.content) == (200, data)
    assert full.headers["content-type"] == "audio/wav"
    assert full.headers["cache-control"] == "no-store"
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert (part.status_code, part.content) == (206, data[100:200])
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = await client.get(url, headers={"Range": "bytes=-10"})
    assert tail.content == data[-10:]
    bad = await client.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{len(data)}"

    token = url.rsplit("/", 1)[1]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get(f"/api/v1/media/raw/{tampered}")).status_code == 403
    expired = tokens.sign(settings.secret_key.get_secret_value(), POOL_AUDIO,
                          {"a": artifact_id}, ttl_s=-5)
    resp = await client.get(f"/api/v1/media/raw/{expired}")
    assert (resp.status_code, resp.json()["error"]["code"]) == (403, "token_expired")
    wrong_purpose = media_url(settings, "spectrogram_image", artifact_id).rsplit("/", 1)[1]
    assert (await client.get(f"/api/v1/media/raw/{wrong_purpose}")).status_code == 403


async def test_expired_take_is_not_served(client: httpx.AsyncClient, app: FastAPI) -> None:
    artifact_id = (await upload(client)).json()["artifact"]["id"]
    res = resources(app)
    async with writing(res) as session:
        from rooms.models import Artifact

        row = await session.get(Artifact, artifact_id)
        assert row is not None
        row.expires_at = utcnow()
    resp = await client.get(media_url(res.settings, POOL_AUDIO, artifact_id))
    assert resp.status_code == 410


@pytest.mark.parametrize("field", ["play_url", "token"])
async def test_ephemeral_plays_once(client: httpx.AsyncClient, app: FastAPI, field: str) -> None:
    data = wav16(0.5)
    resp = await upload(client, data, path="/api/v1/ephemeral/audio")
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert set(body) == {"artifact_id", "play_url", "expires_at"}
    [key] = await blob_keys(app)
    assert key.startswith("ephemeral/")
    first = await client.get(body["play_url"])
    assert (first.status_code, first.content) == (200, data)
    # its listening window is open (tests/recordings/test_nosave.py): consume ends it now
    consumed = await client.post("/api/v1/ephemeral/consume", json={"play_url": body["play_url"]})
    assert consumed.status_code == 200
    second = await client.get(body["play_url"])
    assert second.status_code == 410
    assert await blob_keys(app) == []

    other = (await upload(client, path="/api/v1/ephemeral/audio")).json()
    value = other["play_url"] if field == "play_url" else other["play_url"].rsplit("/", 1)[1]
    consumed = await client.post("/api/v1/ephemeral/consume", json={field: value})
    assert consumed.status_code == 200 and consumed.json() == {"consumed": True}
    assert (await client.get(other["play_url"])).status_code == 410
    assert await blob_keys(app) == []
    again = await client.post("/api/v1/ephemeral/consume", json={field: value})
    assert again.status_code == 410


async def test_unplayed_ephemeral_take_expires(client: httpx.AsyncClient, app: FastAPI) -> None:
    from rooms.recordings.tasks import expire_ephemeral

    body = (await upload(client, path="/api/v1/ephemeral/audio")).json()
    ctx = resources(app).job_context()
    assert await expire_ephemeral(ctx) == 0  # still within its five minutes
    assert len(await blob_keys(app)) == 1
    assert await expire_ephemeral(ctx, time.time() + 301) == 1
    assert await blob_keys(app) == []
    assert (await client.get(body["play_url"])).status_code == 410


async def test_room_hears_of_new_and_revoked_takes(client: httpx.AsyncClient,
                                                   app: FastAPI) -> None:
    hub = resources(app).hub
    async with hub.subscribe("surface") as sub:
        body = (await upload(client)).json()
        await client.post("/api/v1/revoke", json={"token": body["revocation_token"]})
        events = sub.events()
        seen = [json.loads((await asyncio.wait_for(anext(events), 5)).text) for _ in range(2)]
    assert [(e["event"], e["change"], e["artifact_id"]) for e in seen] == [
        ("pool", "added", body["artifact"]["id"]), ("pool", "revoked", body["artifact"]["id"])]


async def _as_legacy(app: FastAPI, artifact_id: int, legacy_code: str) -> None:
    """Store the take's consent under a code of the old A-Z0-9 alphabet (hash only, as then)."""
    async with writing(resources(app)) as session:
        row = await session.get(Artifact, artifact_id)
        assert row is not None
        manifest = await session.get(ConsentManifest, row.consent_id)
        assert manifest is not None
        manifest.revocation_token_hash = hashlib.sha256(legacy_code.encode()).hexdigest()


@pytest.mark.parametrize("typed", ["KO1IX0LUQ7", "K01IXOLUQ7", "KOI1X0LUQ7", "k0I1-xOlu q7",
                                   "\uff2b\uff2f\uff11\uff29 XOLUQ7"],
                         ids=["exact", "o0-swapped", "i1-swapped", "all-loose", "fullwidth"])
async def test_a_legacy_code_with_look_alikes_swapped_still_revokes(
        client: httpx.AsyncClient, app: FastAPI, typed: str) -> None:
    body = (await upload(client)).json()
    await _as_legacy(app, body["artifact"]["id"], "KO1IX0LUQ7")  # O, 1, I, 0, L, U: all legacy
    resp = await client.post("/api/v1/revoke", json={"token": typed})
    assert (resp.status_code, resp.json()) == (200, {"revoked": 1, "derivatives_deleted": 0})
    assert await blob_keys(app) == []


async def test_a_new_code_typed_loosely_revokes(client: httpx.AsyncClient, app: FastAPI) -> None:
    code = (await upload(client)).json()["revocation_token"]
    assert not set(code) & set("ILOU")
    # lower case, groups split by a space, a hyphen, a thin space and an en dash; 0/1 as o/l
    loose = f"{code[:3]} {code[3:5]}-{code[5:7]}\u2009{code[7:8]}\u2013{code[8:]}".lower()
    loose = loose.replace("0", "o").replace("1", "l")
    other = (await upload(client)).json()["artifact"]["id"]
    resp = await client.post("/api/v1/revoke", json={"token": f"  {loose}\n"})
    assert (resp.status_code, resp.json()["revoked"]) == (200, 1)
    assert len(await blob_keys(app)) == 1  # the other take is untouched
    async with resources(app).sessions() as session:
        row = await session.get(Artifact, other)
        assert row is not None and row.status == "ACTIVE"


@pytest.mark.parametrize("typed", ["", "ABC", "K01IX0LUQ7X", "K01IX0LUQ!", "\u0000" * 10])
async def test_what_cannot_be_a_code_is_unknown(client: httpx.AsyncClient, typed: str) -> None:
    await upload(client)
    resp = await client.post("/api/v1/revoke", json={"token": typed or " "})
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "unknown_token")
