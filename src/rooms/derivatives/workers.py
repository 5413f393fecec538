"""The render pool: CPU-heavy renders in a few worker processes, off the event loop.

Why processes and not `asyncio.to_thread`: a render is ~0.1-0.3 s of numpy, scipy and PNG
encoding, and only part of it releases the GIL; in a thread it stalls the API's own Python
work for as long (benchmarks/derivatives.py measures the API's p99 while renders run).

One pool per process that renders (the embedded API, or `rooms worker`), made on first use
and closed with the resources. Workers start from a forkserver with the render module
preloaded (never a fork of a process that holds sockets, threads and an event loop), are
bounded in number (`DERIVATIVE_RENDER_WORKERS`), and each is replaced after
`MAX_TASKS_PER_CHILD` renders so that nothing a render leaks can accumulate; they run at
idle priority (SCHED_IDLE), so a request that shares their core always goes first and a
backlog drains in the time the API leaves. A render that
outlives its timeout has its worker killed (the pool is replaced) and raises RenderTimeout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rooms.logging import get_logger

if TYPE_CHECKING:  # multiprocessing's pool loads with the first render (README "Idle memory")
    from concurrent.futures import ProcessPoolExecutor

log = get_logger("rooms.derivatives.workers")
T = TypeVar("T")
MAX_TASKS_PER_CHILD = 200


class RenderTimeout(TimeoutError):
    """A render ran past DERIVATIVE_RENDER_TIMEOUT_S; its worker was killed."""


RENDER_NICENESS = 19  # where SCHED_IDLE is not available


def _lower_priority() -> None:
    """Worker initializer: a render is background work. Under SCHED_IDLE (Linux) it runs only
    on CPU time nothing else wants, so a request sharing its core is never delayed by it;
    elsewhere it runs at the lowest nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(RENDER_NICENESS)


def _context() -> Any:
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rooms.derivatives.render"])
    return ctx


class RenderPool:
    def __init__(self, workers: int, timeout_s: float) -> None:
        self.workers = workers
        self.timeout_s = timeout_s
        self._executor: ProcessPoolExecutor | None = None
        self.completed = 0

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            from concurrent.futures import ProcessPoolExecutor

            self._executor = ProcessPoolExecutor(self.workers, mp_context=_context(),
                                                 initializer=_lower_priority,
                                                 max_tasks_per_child=MAX_TASKS_PER_CHILD)
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process (both must pickle); RenderTimeout past the
        timeout, BrokenProcessPool if a worker died (the next call gets a fresh pool)."""
        from concurrent.futures.process import BrokenProcessPool

        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool(), fn, *args)
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await future
        except TimeoutError:
            log.warning("derivatives.render_timeout", timeout_s=self.timeout_s)
            self._kill()
            raise RenderTimeout(f"render took longer than {self.timeout_s:g}s") from None
        except BrokenProcessPool:
            self._kill()
            raise
        self.completed += 1
        return result

    def _kill(self) -> None:
        """Stop every worker now (a stuck render cannot be cancelled any other way before
        Python 3.14's `terminate_workers`); the next `run` starts a fresh pool."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        processes = list(getattr(executor, "_processes", {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()

    async def aclose(self) -> None:
        executor = self._executor
        self._kill()
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True)
