from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rooms.models import Artifact
from rooms.playback.runtime import PoolRuntime, pool_runtime
from tests.audio import wav16
from tests.helpers import resources, set_posture, writing
from tests.recordings.conftest import upload


@pytest.fixture
def runtime(app: FastAPI) -> PoolRuntime:
    """The app's pool runtime with the one-second read cache off, so a switch shows at once."""
    rt = pool_runtime(resources(app))
    rt.cache_ttl_s = 0
    return rt


async def take(client: httpx.AsyncClient, seconds: float = 1.0, **fields: str) -> int:
    resp = await upload(client, wav16(seconds), **fields)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["artifact"]["id"])


async def update(app: FastAPI, artifact_id: int, **values: Any) -> None:
    async with writing(resources(app)) as session:
        row = await session.get(Artifact, artifact_id)
        assert row is not None
        for key, value in values.items():
            setattr(row, key, value)


async def steward(app: FastAPI, **flags: bool) -> None:
    await set_posture(resources(app), **flags)


async def row(app: FastAPI, artifact_id: int) -> Artifact:
    async with resources(app).sessions() as session:
        found = await session.get(Artifact, artifact_id)
    assert found is not None
    return found
