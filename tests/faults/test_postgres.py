"""PostgreSQL stopped for 10 s under load: 503 `database_unavailable` within 5 s, never a
500 or a hang, and the app serves again by itself once the database is back."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.faults.conftest import Load, recovered, rows_and_blobs, stoppable
from tests.helpers import resources
from tests.recordings.conftest import upload

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)
OUTAGE_S = 10.0


async def test_postgres_stopped_under_load(client: httpx.AsyncClient, app: FastAPI,
                                           backend: Any) -> None:
    server = stoppable(backend, "postgres")
    for _ in range(3):
        assert (await upload(client)).status_code == 201
    loop = asyncio.get_running_loop()
    load = Load(client)
    async with load.running():
        await asyncio.sleep(1.0)  # load before the outage
        down_at = loop.time()
        await asyncio.to_thread(server.stop)
        try:
            await asyncio.sleep(OUTAGE_S)
        finally:
            await asyncio.to_thread(server.start)
        up_at = loop.time()

        async def serving() -> bool:
            recent = load.between(loop.time() - 1.0, loop.time())
            return any(a.what == "upload" and a.status == 201 for a in recent) and any(
                a.what == "pool" and a.status == 200 for a in recent)

        took = await recovered(serving, 20, "uploads and pool/next after PostgreSQL returned")
    statuses = {(a.what, a.status, a.code) for a in load.answers}
    slowest = max(load.answers, key=lambda a: a.seconds)
    print(f"\npostgres outage: {len(load.answers)} requests, "
          f"{sum(a.status == 503 for a in load.answers)} answered 503, slowest "
          f"{slowest.seconds:.2f} s; serving again {took:.1f} s after the start")
    assert all(a.status in (200, 201, 503) for a in load.answers), statuses
    assert all(a.code == "database_unavailable" for a in load.answers if a.status == 503), \
        statuses
    assert slowest.seconds < 5.0, slowest
    during = load.between(down_at + 1.0, up_at - 0.5)
    assert during and all(a.status == 503 for a in during if a.what != "state"), statuses
    assert sum(a.status == 503 for a in during) >= 10
    rows, blobs = await rows_and_blobs(resources(app))
    assert set(rows.values()) <= blobs  # no row without its blob
