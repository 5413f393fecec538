"""One request = one transaction: jobs are enqueued only after it commits, and work done
outside the database is undone when it does not."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from rooms.deps import get_uow
from rooms.models import Node, StewardAction
from tests.helpers import resources, run_jobs


async def _count(app: FastAPI, model: type[Node] | type[StewardAction]) -> int:
    async with resources(app).sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_job_is_enqueued_after_the_commit(app: FastAPI) -> None:
    res = resources(app)
    gen = get_uow(res)
    uow = await anext(gen)
    await uow.begin_write()
    uow.session.add(StewardAction(action="test.committed"))
    uow.enqueue_after_commit("ensure_node", job_id="ensure-node")
    assert (await res.jobs.stats()).depth == 0  # nothing queued while the transaction is open
    with pytest.raises(StopAsyncIteration):
        await anext(gen)
    await run_jobs(app)
    assert await _count(app, StewardAction) == 1
    assert await _count(app, Node) == 1


async def test_failed_transaction_enqueues_nothing_and_compensates(app: FastAPI) -> None:
    res = resources(app)
    undone: list[str] = []

    async def undo() -> None:
        undone.append("blob deleted")

    gen = get_uow(res)
    uow = await anext(gen)
    uow.session.add(StewardAction(action="test.rolled_back"))
    uow.enqueue_after_commit("ensure_node", job_id="ensure-node")
    uow.on_rollback(undo)
    with pytest.raises(RuntimeError):
        await gen.athrow(RuntimeError("the handler failed"))
    await run_jobs(app)
    assert undone == ["blob deleted"]
    assert await _count(app, StewardAction) == 0
    assert await _count(app, Node) == 0


def test_a_failing_hook_is_logged_once_per_interval_with_the_count_held_back() -> None:
    """A full queue fails every upload's enqueue: the log says it once per 10 s per hook,
    with how many it held back (every one is still counted in /metrics)."""
    from rooms.uow import LogThrottle

    now = [100.0]
    throttle = LogThrottle(10.0, clock=lambda: now[0])
    assert throttle.take("enqueue measure_loudness") == 0
    assert [throttle.take("enqueue measure_loudness") for _ in range(3)] == [None] * 3
    assert throttle.take("enqueue render_derivatives") == 0  # another hook: its own line
    now[0] += 10.0
    assert throttle.take("enqueue measure_loudness") == 3
