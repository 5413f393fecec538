"""Redis stopped, the uses h-store's tests/test_store_outage.py does not cover: live events
stay deliverable inside the process, a job enqueued after a commit is logged and counted
(never a 500), and both work across processes again once Redis is back, on their own."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from rooms.models import StewardAction
from rooms.uow import unit_of_work
from tests.faults.conftest import recovered, stopped
from tests.helpers import metric, resources
from tests.live.conftest import live_client, serve
from tests.recordings.conftest import upload

pytestmark = pytest.mark.parametrize("tier", ["services"], indirect=True)


async def test_live_events_stay_process_local_while_redis_is_away(app: FastAPI,
                                                                  backend: Any) -> None:
    async with (serve(app) as server, httpx.AsyncClient(base_url=server.http) as http,
                live_client(server, topics=("surface",)) as listener):
        with stopped(backend, "redis"):
            made = await upload(http)
            assert made.status_code == 201, made.text
            event = await listener.recv(timeout=5)
            assert (event["event"], event["artifact_id"]) == (
                "pool", made.json()["artifact"]["id"])

        async def delivered() -> bool:  # back: events keep arriving, the bus reconnects
            again = await upload(http)
            assert again.status_code == 201, again.text
            got = await listener.recv(timeout=5)
            return bool(got["artifact_id"] == again.json()["artifact"]["id"])

        await recovered(delivered, 30, "live delivery after Redis returned")


async def test_an_enqueue_after_commit_is_logged_and_counted_not_a_500(
        client: httpx.AsyncClient, app: FastAPI, backend: Any) -> None:
    res = resources(app)
    with stopped(backend, "redis"), capture_logs() as logs:
        start = time.monotonic()
        async with unit_of_work(res) as uow:
            await uow.begin_write()
            uow.session.add(StewardAction(action="test.committed", actor="test"))
            uow.enqueue_after_commit("ensure_node", job_id="fault-ensure-node")
        assert time.monotonic() - start < 10
        # requests keep being answered meanwhile
        assert (await upload(client)).status_code == 201
    failed = [e for e in logs if e["event"] == "uow.after_commit_failed"]
    # ours, and the upload's loudness job (the loudness sweep measures that take later)
    assert sorted(e["what"] for e in failed) == ["enqueue ensure_node", "enqueue measure_loudness"]
    assert await metric(client, "rooms_after_commit_failures_total") == 2
    async with res.sessions() as session:  # the change itself was committed
        from sqlalchemy import func, select

        count = (await session.execute(select(func.count()).select_from(StewardAction).where(
            StewardAction.action == "test.committed"))).scalar_one()
    assert count == 1

    async def enqueues() -> bool:  # automatic recovery: the next enqueue reaches Redis
        try:
            return await res.jobs.enqueue("ensure_node", job_id=f"after-{time.time()}")
        except Exception:
            return False

    await recovered(enqueues, 20, "arq enqueue after Redis returned")
