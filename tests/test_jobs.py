"""Jobs run in-process (embedded) and through a real arq worker on Redis (services)."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from rooms.jobs import JobContext, job
from rooms.models import Node
from tests.helpers import resources, run_jobs

ATTEMPTS: Counter[str] = Counter()


@job(max_tries=3)
async def flaky_job(ctx: JobContext, key: str) -> str:
    ATTEMPTS[key] += 1
    if ATTEMPTS[key] < 2:
        raise RuntimeError("the first try fails")
    return key


@job(timeout_s=0.2, max_tries=1)
async def stuck_job(ctx: JobContext) -> None:
    await asyncio.sleep(30)


async def test_job_writes_through_the_runner(app: FastAPI, tier: str) -> None:
    res = resources(app)
    assert res.jobs.backend == ("inprocess" if tier == "embedded" else "arq")
    assert await res.jobs.enqueue("ensure_node", job_id="ensure-node")
    await run_jobs(app)
    async with res.sessions() as session:
        nodes = (await session.execute(select(Node))).scalars().all()
    assert [n.name for n in nodes] == ["Room Memory Node"]


async def test_same_job_id_is_enqueued_once(app: FastAPI) -> None:
    res = resources(app)
    res_first = await res.jobs.enqueue("flaky_job", "dup", job_id="same-id")
    res_second = await res.jobs.enqueue("flaky_job", "dup", job_id="same-id")
    assert (res_first, res_second) == (True, False)
    await run_jobs(app)


async def test_failed_job_is_retried_then_succeeds(app: FastAPI, tier: str) -> None:
    key = f"retry-{tier}"
    ATTEMPTS[key] = 0
    await resources(app).jobs.enqueue("flaky_job", key)
    await run_jobs(app)
    assert ATTEMPTS[key] == 2
    stats = await resources(app).jobs.stats()
    assert not [f for f in stats.failures if f.job == "flaky_job"]


async def test_timed_out_job_shows_on_readyz(app: FastAPI, client: httpx.AsyncClient) -> None:
    await resources(app).jobs.enqueue("stuck_job")
    await run_jobs(app)
    body = (await client.get("/readyz")).json()
    failures = body["checks"]["jobs"]["recent_failures"]
    assert [f["job"] for f in failures] == ["stuck_job"]
