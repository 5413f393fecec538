"""Small helpers shared by tests."""

from __future__ import annotations

from fastapi import FastAPI

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
