"""The archive's operator actions: remove from circulation, the summary download, and
moderation (MODERATION=hold: new takes wait, approve lets one in, reject removes it)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from rooms.derivatives import retention
from rooms.live.surface import SURFACE
from rooms.models import Artifact, utcnow
from tests.helpers import resources, run_jobs
from tests.ops.conftest import SECRET
from tests.playback.conftest import take

BEARER = {"Authorization": f"Bearer {SECRET}"}


async def row(app: FastAPI, artifact_id: int) -> Artifact:
    async with resources(app).sessions() as session:
        found = await session.get(Artifact, artifact_id)
    assert found is not None
    return found


async def actions(client: httpx.AsyncClient) -> list[str]:
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()
    return [a["action"] for a in trail["items"]]


async def test_a_removed_take_is_gone_from_storage_the_pool_and_the_room(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    res = resources(app)
    artifact_id = await take(client, consent_mode="FOSSIL")
    await run_jobs(app)  # its spectrogram and essence
    key = (await row(app, artifact_id)).raw_uri
    assert await res.blobs.exists(key) and await res.blobs.list(f"derivatives/{artifact_id}/")
    async with res.live.subscribe(SURFACE) as sub:
        removed = await client.post(f"/api/v1/operator/artifacts/{artifact_id}/remove",
                                    headers=BEARER)
        assert removed.status_code == 200, removed.text
        event = (await anext(sub.events())).data()
    assert removed.json() == {"ok": True, "artifact_id": artifact_id, "status": "REVOKED",
                              "deleted_derivatives": 2}
    assert (event["event"], event["change"], event["artifact_id"]) == (
        "pool", "removed", artifact_id)
    assert not await res.blobs.exists(key)
    assert await res.blobs.list(f"derivatives/{artifact_id}/") == []
    assert (await row(app, artifact_id)).status == "REVOKED"
    assert (await client.get("/api/v1/pool/next")).json()["artifact"] is None
    assert "artifact.removed_from_circulation" in await actions(client)
    again = await client.post(f"/api/v1/operator/artifacts/{artifact_id}/remove",
                              headers=BEARER)
    assert again.status_code == 409 and again.json()["error"]["code"] == "artifact_not_active"
    unknown = await client.post("/api/v1/operator/artifacts/999999/remove", headers=BEARER)
    assert unknown.status_code == 404


async def test_the_summary_is_a_json_download_of_the_archive(
        client: httpx.AsyncClient) -> None:
    await take(client, effect_profile="clear")
    await take(client, effect_profile="warm")
    summary = await client.get("/api/v1/operator/artifact-summary", headers=BEARER)
    assert summary.status_code == 200
    assert summary.headers["content-disposition"] == (
        'attachment; filename="artifact-summary.json"')
    body = summary.json()
    assert (body["active"], body["playable"], body["held"], body["revoked"]) == (2, 2, 0, 0)
    assert body["memory_colors"]["counts"] == {"clear": 1, "warm": 1}
    assert body["deployments"] == {"memory": 2}
    assert sum(body["lanes"].values()) == 2
    assert {c["code"] for c in body["memory_colors"]["catalog"]} >= {"clear", "warm"}
    assert (await client.get("/api/v1/operator/artifact-summary")).status_code == 401


@pytest.mark.ops_settings(moderation="hold")
async def test_held_takes_wait_for_a_steward(app: FastAPI, client: httpx.AsyncClient) -> None:
    res = resources(app)
    first = await take(client)
    second = await take(client)
    nothing = (await client.get("/api/v1/pool/next")).json()
    assert nothing["artifact"] is None and nothing["reason"] == "empty_pool"
    assert (await client.get("/api/v1/surface/state")).json()["pool_size"] == 0
    queue = (await client.get("/api/v1/operator/moderation", headers=BEARER)).json()["items"]
    assert [i["id"] for i in queue] == [first, second]
    assert queue[0]["consent_mode"] == "ROOM" and queue[0]["duration_ms"] == 1000
    listen = await client.get(queue[0]["audio_url"])
    assert listen.status_code == 200 and listen.headers["content-type"] == "audio/wav"
    listed = (await client.get("/api/v1/operator/artifacts", headers=BEARER)).json()["items"]
    assert {(i["id"], i["held"], i["playable"]) for i in listed} == {
        (first, True, False), (second, True, False)}

    async with res.live.subscribe(SURFACE) as sub:
        approved = await client.post(f"/api/v1/operator/artifacts/{first}/approve",
                                     headers=BEARER)
        assert approved.status_code == 200, approved.text
        event = (await anext(sub.events())).data()
    assert (event["change"], event["artifact_id"]) == ("added", first)
    playing = (await client.get("/api/v1/pool/next")).json()["artifact"]
    assert playing is not None and playing["id"] == first

    key = (await row(app, second)).raw_uri
    rejected = await client.post(f"/api/v1/operator/artifacts/{second}/reject", headers=BEARER)
    assert rejected.status_code == 200 and rejected.json()["status"] == "REVOKED"
    assert not await res.blobs.exists(key)
    assert (await client.get("/api/v1/operator/moderation", headers=BEARER)).json() == {
        "items": []}
    twice = await client.post(f"/api/v1/operator/artifacts/{first}/approve", headers=BEARER)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "not_held"
    assert {"artifact.approved", "artifact.rejected"} <= set(await actions(client))
    assert (await client.get(queue[1]["audio_url"])).status_code == 410  # rejected: gone


@pytest.mark.ops_settings(moderation="hold")
async def test_a_held_take_is_not_expired_as_unplayable_by_retention(
        app: FastAPI, client: httpx.AsyncClient) -> None:
    held = await take(client)
    counts = await retention.prune_derivatives(resources(app), utcnow())
    assert counts["expired"] == 0
    assert (await row(app, held)).status == "ACTIVE"
