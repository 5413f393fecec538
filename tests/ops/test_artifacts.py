"""The operator's archive list and metadata edits."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.ops.conftest import SECRET
from tests.recordings.conftest import upload

BEARER = {"Authorization": f"Bearer {SECRET}"}
LIST = "/api/v1/operator/artifacts"


async def listing(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get(LIST, params=params, headers=BEARER)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_list_is_newest_first_filtered_and_paged(client: httpx.AsyncClient) -> None:
    made = [(await upload(client)).json() for _ in range(3)]
    ids = [m["artifact"]["id"] for m in made]
    revoked = made[0]["revocation_token"]
    assert (await client.post("/api/v1/revoke", json={"token": revoked})).status_code == 200
    everything = await listing(client)
    assert [a["id"] for a in everything["items"]] == ids[::-1]
    first = everything["items"][0]
    assert (first["lane"], first["density"], first["mood"]) == ("fresh", "light", "clear")
    assert first["status"] == "ACTIVE" and first["absence_hours"] is None
    assert [a["id"] for a in (await listing(client, status="revoked"))["items"]] == [ids[0]]
    page = await listing(client, status="active", limit=1)
    assert [a["id"] for a in page["items"]] == [ids[2]]
    rest = await listing(client, status="active", limit=1, cursor=page["next_cursor"])
    assert [a["id"] for a in rest["items"]] == [ids[1]]
    bad = await client.get(LIST, params={"status": "lost"}, headers=BEARER)
    assert bad.status_code in (400, 422) and "error" in bad.json()
    assert (await client.get(LIST)).status_code == 401


async def test_editing_metadata_is_checked_and_audited(client: httpx.AsyncClient) -> None:
    made = (await upload(client)).json()
    artifact_id = made["artifact"]["id"]
    url = f"{LIST}/{artifact_id}/metadata"
    done = await client.patch(url, json={"topic_tag": " harbour ", "lifecycle_status": "open"},
                              headers=BEARER)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["changed"] == ["lifecycle_status", "topic_tag"]
    assert (body["artifact"]["topic_tag"], body["artifact"]["lifecycle_status"]) == (
        "harbour", "open")
    assert (await client.patch(url, json={"topic_tag": "harbour"},
                               headers=BEARER)).json()["changed"] == []
    wrong = await client.patch(url, json={"lifecycle_status": "answered"}, headers=BEARER)
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "invalid_lifecycle_status"
    long = await client.patch(url, json={"topic_tag": "x" * 65}, headers=BEARER)
    assert long.status_code in (400, 422)
    trail = (await client.get("/api/v1/operator/actions", headers=BEARER)).json()["items"]
    assert [a["action"] for a in trail] == ["artifact.metadata.updated"]
    assert trail[0]["payload"] == {"artifact_id": artifact_id, "topic_tag": "harbour",
                                   "lifecycle_status": "open"}
    assert [a["topic_tag"] for a in (await listing(client, topic_tag="harbour"))["items"]] == [
        "harbour"]


async def test_missing_and_revoked_takes_cannot_be_edited(client: httpx.AsyncClient) -> None:
    missing = await client.patch(f"{LIST}/999999/metadata", json={"topic_tag": "x"},
                                 headers=BEARER)
    assert missing.status_code == 404
    made = (await upload(client)).json()
    artifact_id = made["artifact"]["id"]
    assert (await client.post("/api/v1/revoke",
                              json={"token": made["revocation_token"]})).status_code == 200
    gone = await client.patch(f"{LIST}/{artifact_id}/metadata", json={"topic_tag": "x"},
                              headers=BEARER)
    assert gone.status_code == 410


@pytest.mark.parametrize("url", [
    f"{LIST}?cursor=9223372036854775808", f"{LIST}?cursor=2147483648",
    f"{LIST}?cursor=99999999999999999999999", f"{LIST}?limit=9223372036854775808",
    "/api/v1/operator/actions?cursor=9223372036854775808",
    "/api/v1/operator/actions?cursor=-1"])
async def test_integers_past_the_id_range_are_400(client: httpx.AsyncClient, url: str) -> None:
    response = await client.get(url, headers=BEARER)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("artifact_id", ["9223372036854775808", "2147483648", "0", "1e3"])
async def test_an_artifact_id_past_the_id_range_is_400(client: httpx.AsyncClient,
                                                       artifact_id: str) -> None:
    response = await client.patch(f"{LIST}/{artifact_id}/metadata", json={"topic_tag": "x"},
                                  headers=BEARER)
    assert response.status_code == 400, response.text


async def test_the_largest_id_is_simply_not_found(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{LIST}/2147483647/metadata", json={"topic_tag": "x"},
                                  headers=BEARER)
    assert response.status_code == 404
    assert (await client.get(f"{LIST}?cursor=2147483647", headers=BEARER)).status_code == 200


async def test_a_deeply_nested_body_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/operator/controls", content=b"[" * 30_000,
                                 headers={**BEARER, "Content-Type": "application/json"})
    assert response.status_code == 400
