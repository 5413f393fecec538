"""S3 stopped: uploads and revocations answer 503 `storage_unavailable` and leave nothing
half-written (no row without its blob, no take revoked while its audio is still stored);
once S3 is back both work again on their own."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.models import Artifact
from tests.faults.conftest import recovered, rows_and_blobs, stopped
from tests.helpers import resources
from tests.recordings.conftest import artifact_count, upload

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)


async def test_s3_stopped_uploads_and_revocations_are_503_and_nothing_half_written(
        client: httpx.AsyncClient, app: FastAPI, backend: Any) -> None:
    res = resources(app)
    made = [(await upload(client)).json() for _ in range(2)]
    rows_before, _ = await rows_and_blobs(res)
    with stopped(backend, "s3"):
        refused = await upload(client)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["code"] == "storage_unavailable"
        revoke = await client.post("/api/v1/revoke", json={"token": made[0]["revocation_token"]})
        assert revoke.status_code == 503, revoke.text
        assert revoke.json()["error"]["code"] == "storage_unavailable"
        async with res.sessions() as session:  # refused means nothing changed
            statuses = set((await session.execute(select(Artifact.status))).scalars())
        assert statuses == {"ACTIVE"}
    assert await artifact_count(app) == 2
    rows, blobs = await rows_and_blobs(res)
    assert rows == rows_before and set(rows.values()) <= blobs

    async def uploads_again() -> bool:
        return (await upload(client)).status_code == 201

    await recovered(uploads_again, 30, "uploads after S3 returned")
    revoked = await client.post("/api/v1/revoke", json={"token": made[0]["revocation_token"]})
    assert revoked.status_code == 200 and revoked.json()["revoked"] == 1
    rows_after, blobs_after = await rows_and_blobs(res)
    gone = rows_before[made[0]["artifact"]["id"]]
    assert gone not in blobs_after  # the answered revocation took the audio with it
    assert set(rows_after.values()) <= blobs_after
