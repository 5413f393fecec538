"""The core seams: a job works through the same unit of work and services as a request; the
SQLite write slot is never skipped; after-commit hooks never fail a committed change; a
steward's change reaches every process at once."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from rooms import steward
from rooms.app import create_app
from rooms.config import Settings
from rooms.db import WriteWithoutSlot
from rooms.jobs import JobContext, job
from rooms.models import Artifact, StewardAction
from rooms.recordings import service
from rooms.resources import Resources
from rooms.uow import unit_of_work
from tests.helpers import resources, run_jobs, walk_routes
from tests.live.conftest import live_client, serve
from tests.recordings.conftest import blob_keys, upload

OPS = {"Authorization": "Bearer ops-test-secret"}


@job(timeout_s=30, max_tries=1)
async def revoke_from_a_job(ctx: JobContext, code: str) -> int:
    """A job (defined here, not in rooms) that revokes the way the request does."""
    res: Resources = ctx["resources"]
    async with unit_of_work(res) as uow:
        revoked, _ = await service.revoke(uow, code)
    return revoked


async def test_a_job_revokes_like_the_request_and_the_room_hears_it(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    body = (await upload(client)).json()
    artifact_id, code = body["artifact"]["id"], body["revocation_token"]
    assert len(await blob_keys(app)) == 1
    async with serve(app) as server, live_client(server, topics=("surface",)) as room:
        assert await resources(app).jobs.enqueue("revoke_from_a_job", code)
        await run_jobs(app)  # in-process, or a real arq worker publishing through Redis
        event = await room.recv()
    assert {k: event[k] for k in ("topic", "event", "change", "artifact_id")} == {
        "topic": "surface", "event": "pool", "change": "revoked", "artifact_id": artifact_id}
    assert await blob_keys(app) == []
    async with resources(app).sessions() as session:
        row = await session.get(Artifact, artifact_id)
        audit = (await session.execute(select(StewardAction.action))).scalars().all()
    assert row is not None and (row.status, row.raw_uri, row.raw_sha256) == ("REVOKED", "", "")
    assert audit == ["revocation.completed"]
    again = await client.post("/api/v1/revoke", json={"token": code})
    assert again.json() == {"revoked": 0, "derivatives_deleted": 0}


@pytest.mark.parametrize("tier", ["embedded"], indirect=True)
async def test_a_write_on_sqlite_without_the_slot_fails(app: FastAPI) -> None:
    res = resources(app)
    async with res.sessions() as session:
        with pytest.raises(WriteWithoutSlot):
            await session.execute(text(
                "INSERT INTO steward_action (created_at, action, actor, detail, payload) "
                "VALUES ('2026-01-01', 'x', 'y', '', '{}')"))
    with pytest.raises(WriteWithoutSlot):  # the fast path's own engine is guarded too
        await res.db.read(lambda conn: conn.execute(text("DELETE FROM steward_action")))
    async with unit_of_work(res) as uow:
        await uow.begin_write()
        uow.session.add(StewardAction(action="with.the.slot"))
    async with res.sessions() as session:
        n = (await session.execute(select(func.count()).select_from(StewardAction))).scalar()
    assert n == 1


async def test_a_failing_after_commit_hook_never_fails_the_committed_change(
        client: httpx.AsyncClient, app: FastAPI) -> None:
    res = resources(app)
    ran: list[str] = []

    async def queue_full() -> None:
        raise RuntimeError("queue full")

    async def announce() -> None:
        ran.append("announced")

    async with unit_of_work(res) as uow:
        await uow.begin_write()
        uow.session.add(StewardAction(action="kept.anyway"))
        uow.after_commit(queue_full)
        uow.after_commit(announce)
    assert ran == ["announced"]
    async with res.sessions() as session:
        actions = (await session.execute(select(StewardAction.action))).scalars().all()
    assert actions == ["kept.anyway"]
    metrics = (await client.get("/metrics")).text
    assert "rooms_after_commit_failures_total 1.0" in metrics


@pytest.fixture
async def second_process(settings: Settings) -> AsyncIterator[FastAPI]:
    """Another api process on the same database and Redis (built in this one)."""
    other = create_app(settings.model_copy())
    async with other.router.lifespan_context(other):
        yield other


@pytest.mark.parametrize("tier", ["services"], indirect=True)
async def test_a_steward_change_reaches_every_process_at_once(
        client: httpx.AsyncClient, app: FastAPI, second_process: FastAPI) -> None:
    other_res = resources(second_process)
    transport = httpx.ASGITransport(app=second_process)
    async with httpx.AsyncClient(transport=transport, base_url="http://other") as other:
        assert (await upload(other)).status_code == 201  # B has read (and cached) the posture
        frozen = steward.cache(other_res)
        frozen.clock = lambda: 0.0  # B's copy would never go stale by itself
        frozen.store(frozen.peek() or steward.Posture())
        resp = await client.post("/api/v1/operator/controls", json={"intake_paused": True},
                                 headers=OPS)
        assert resp.status_code == 200, resp.text
        answers: list[int] = []
        for _ in range(200):  # poll up to ~2 s: the announcement travels through Redis
            answers.append((await upload(other)).status_code)
            if answers[-1] == 503:
                break
            await asyncio.sleep(0.01)
        assert answers[-1] == 503, answers
        state = (await other.get("/api/v1/surface/state")).json()
    assert state["intake_paused"] is True



def test_no_route_hops_to_a_thread_to_run_a_dependency_or_itself(app: FastAPI) -> None:
    """FastAPI runs a plain `def` endpoint or dependency in its thread pool: a thread hop
    (and a GIL handoff) per request for what is usually one attribute read. Every endpoint
    and dependency is a coroutine or an async generator; blocking work is offloaded by the
    service that does it, where it is counted."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute, APIWebSocketRoute

    def sync_calls(dependant: Dependant) -> list[str]:
        found = []
        call = dependant.call
        if call is not None and not (inspect.iscoroutinefunction(call)
                                     or inspect.isasyncgenfunction(call)):
            found.append(getattr(call, "__qualname__", repr(call)))
        for sub in dependant.dependencies:
            found += sync_calls(sub)
        return found

    routes = [(path, r) for path, r in walk_routes(app.routes)
              if isinstance(r, APIRoute | APIWebSocketRoute)]
    assert len(routes) > 20
    offenders = {path: calls for path, r in routes if (calls := sync_calls(r.dependant))}
    assert offenders == {}
