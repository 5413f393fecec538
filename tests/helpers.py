"""Small helpers shared by tests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import BaseRoute, WebSocketRoute

from rooms import steward
from rooms.models import StewardState
from rooms.resources import Resources


def resources(app: FastAPI) -> Resources:
    res: Resources = app.state.rooms
    return res


async def run_jobs(app: FastAPI) -> None:
    """Run every queued job to completion: drain the in-process queue, or a burst arq worker."""
    res = resources(app)
    if res.jobs.backend == "inprocess":
        from rooms.jobs.inprocess import InProcessQueue

        assert isinstance(res.jobs, InProcessQueue)
        await res.jobs.join()
        return
    from rooms.worker import build_worker

    worker = build_worker(res.settings, burst=True)
    try:
        await worker.main()
    finally:
        await worker.close()


@asynccontextmanager
async def writing(res: Resources) -> AsyncIterator[AsyncSession]:
    """A session in a committed-on-exit transaction that holds the write slot, as every
    writer of the app does (on SQLite the suite fails a write made without it)."""
    async with res.db.slot.hold(), res.sessions.begin() as session:
        yield session


async def set_posture(res: Resources, **fields: Any) -> None:
    """Write the steward's row directly, then drop this process's copy of it, as the
    `surface` announcement of a committed change does."""
    async with writing(res) as session:
        session.add(StewardState(**fields))
    steward.cache(res).forget()


async def metric(client: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample of GET /metrics, by exact labels (0 when the series does not exist yet)."""
    text = (await client.get("/metrics")).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    found = re.search(r"^" + pattern + r" (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def walk_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """Every HTTP and websocket route of an app with its full path, through FastAPI's
    included routers (kept as routers since FastAPI 0.16x, not flattened)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # an included router: its routes, under its prefix
            yield from walk_routes(included.routes,
                                   prefix + route.include_context.prefix)  # type: ignore[attr-defined]
        elif isinstance(route, APIRoute | WebSocketRoute):
            yield prefix + route.path, route
