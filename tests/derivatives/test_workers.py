"""The render pool: a stuck render is killed at its timeout, a dead worker is replaced."""

from __future__ import annotations

import os
import time
from concurrent.futures.process import BrokenProcessPool

import pytest

from rooms.derivatives.workers import RenderPool, RenderTimeout


async def test_a_render_past_its_timeout_is_killed_and_the_pool_goes_on() -> None:
    pool = RenderPool(1, timeout_s=2.0)
    try:
        assert await pool.run(abs, -3) == 3  # the workers are up
        started = time.monotonic()
        with pytest.raises(RenderTimeout):
            await pool.run(time.sleep, 60)  # a render that never ends
        assert time.monotonic() - started < 30
        assert await pool.run(abs, -4) == 4  # a fresh worker
    finally:
        await pool.aclose()


async def test_a_worker_that_dies_mid_render_is_replaced() -> None:
    pool = RenderPool(1, timeout_s=30.0)
    try:
        with pytest.raises(BrokenProcessPool):
            await pool.run(os._exit, 1)  # the worker process dies
        assert await pool.run(abs, -5) == 5
    finally:
        await pool.aclose()


async def test_render_workers_run_at_idle_priority() -> None:
    pool = RenderPool(1, timeout_s=30.0)
    try:
        policy = await pool.run(os.sched_getscheduler, 0)
        assert policy == os.SCHED_IDLE or await pool.run(os.nice, 0) > 0
    finally:
        await pool.aclose()
