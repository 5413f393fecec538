from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from rooms.models import Artifact
from tests.audio import wav16
from tests.helpers import resources

CLIENT = {"X-Rooms-Client-Id": "kiosk-test-01"}


async def upload(client: httpx.AsyncClient, data: bytes | None = None, *,
                 mode: str = "ROOM", headers: dict[str, str] | None = None,
                 path: str = "/api/v1/artifacts/audio", **fields: str) -> httpx.Response:
    files = {"file": ("take.wav", wav16(1.0) if data is None else data, "audio/wav")}
    form: dict[str, Any] = {"consent_mode": mode, **fields}
    return await client.post(path, files=files, data=form, headers={**CLIENT, **(headers or {})})


async def artifact_count(app: FastAPI) -> int:
    async with resources(app).sessions() as session:
        return int((await session.execute(select(func.count(Artifact.id)))).scalar_one())


async def blob_keys(app: FastAPI) -> list[str]:
    """Every blob of a take (the revocation ledger's objects, `ledger/`, are none)."""
    return [k for k in await resources(app).blobs.list() if not k.startswith("ledger/")]
