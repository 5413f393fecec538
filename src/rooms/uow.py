"""The unit of work: one session, one transaction, and what to do after it commits or fails.

A request dependency (`rooms.deps.UowDep`) and a job open it the same way:

    async with unit_of_work(resources) as uow:
        await service.something(uow, ...)

It carries the session, the blob store, the events publisher and the job queue, so a
service never knows which of the two called it. Work outside the database is ordered
around the commit: compensations (`on_rollback`, e.g. delete a blob written before its row)
run if the transaction fails; `after_commit` hooks (announce, enqueue) run once it has
committed, each on its own: a hook that raises is logged and counted, never turning a
committed change into an error for the caller.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from rooms.logging import get_logger

# every failed after-commit hook is counted in /metrics (rooms_after_commit_failures_total);
# the log says so once per hook name every AFTER_COMMIT_LOG_S, with how many it held back
AFTER_COMMIT_LOG_S = 10.0

if TYPE_CHECKING:
    from rooms.resources import Resources

log = get_logger("rooms.uow")

Hook = Callable[[], Awaitable[Any]]


class UnitOfWork:
    """A session plus work to do once its transaction has committed (or failed)."""

    def __init__(self, session: AsyncSession, resources: Resources) -> None:
        self.session = session
        self.resources = resources
        self.settings = resources.settings
        self.blobs = resources.blobs
        self.events = resources.events
        self.jobs = resources.jobs
        self._after_commit: list[tuple[str, Hook]] = []  # (what it does, for the log; hook)
        self._on_rollback: list[Hook | None] = []
        self._slot: contextvars.Token[bool] | None = None

    async def begin_write(self) -> None:
        """Take the database's write slot (SQLite) until commit or rollback.

        Call it before the transaction's first read when the transaction will write:
        SQLite cannot upgrade a stale read snapshot to a write. Never hold it across blob
        I/O: write blobs first, or end the read with `end_read` before talking to storage.
        """
        if self._slot is None:
            self._slot = await self.resources.db.slot.acquire()

    def release_write(self) -> None:
        token, self._slot = self._slot, None
        self.resources.db.slot.release(token)

    async def end_read(self) -> None:
        """Close the transaction's read snapshot (nothing has been written yet), so slow
        work outside the database (storage) holds no snapshot and no slot.

        Raises RuntimeError if the session holds changes: they would be thrown away."""
        if self.session.new or self.session.dirty or self.session.deleted:
            raise RuntimeError("end_read() with unflushed changes in the unit of work")
        await self.session.rollback()
        self.release_write()

    def after_commit(self, fn: Hook, what: str = "hook") -> None:
        self._after_commit.append((what, fn))

    def on_rollback(self, fn: Hook) -> int:
        """Undo work outside the database (a written blob) if the transaction fails.
        Returns a handle for `keep`."""
        self._on_rollback.append(fn)
        return len(self._on_rollback) - 1

    def keep(self, handle: int) -> None:
        """That work is now owned by committed rows: never undo it."""
        self._on_rollback[handle] = None

    def enqueue_after_commit(self, name: str, *args: Any, job_id: str | None = None) -> None:
        self.after_commit(lambda: self.jobs.enqueue(name, *args, job_id=job_id),
                          what=f"enqueue {name}")

    async def run_on_rollback(self) -> None:
        for fn in reversed(self._on_rollback):
            if fn is None:
                continue
            try:
                await fn()
            except Exception as exc:  # the sweep catches what this misses
                log.warning("uow.compensation_failed", error=type(exc).__name__)

    async def run_after_commit(self) -> None:
        """Every hook runs; one that fails is logged and counted, the rest still run."""
        for what, fn in self._after_commit:
            try:
                await fn()
            except Exception as exc:
                self.resources.metrics.after_commit_failures.inc()
                throttle = self.resources.extras.setdefault("after_commit_log",
                                                            LogThrottle(AFTER_COMMIT_LOG_S))
                suppressed = throttle.take(what)
                if suppressed is not None:  # a full queue fails every upload's enqueue
                    log.warning("uow.after_commit_failed", what=what,
                                error=type(exc).__name__, detail=str(exc)[:200],
                                suppressed=suppressed)


class LogThrottle:
    """At most one log line per key every `every_s` seconds (monotonic); `take` answers
    how many were held back since the last line, or None to hold this one back too."""

    def __init__(self, every_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self._last: dict[str, tuple[float, int]] = {}  # key -> (logged at, held back since)

    def take(self, key: str) -> int | None:
        now = self.clock()
        logged_at, held = self._last.get(key, (-math.inf, 0))
        if now - logged_at < self.every_s:
            self._last[key] = (logged_at, held + 1)
            return None
        if len(self._last) > 256:  # keys are hook names: few; never grow without end
            self._last.clear()
        self._last[key] = (now, 0)
        return held



@asynccontextmanager
async def unit_of_work(resources: Resources) -> AsyncIterator[UnitOfWork]:
    """Open a session; commit when the block finishes cleanly, else roll back and run the
    compensations. After-commit hooks run once the session is closed."""
    async with resources.db.sessions() as session:
        uow = UnitOfWork(session, resources)
        try:
            yield uow
            await session.commit()
        except BaseException:
            await session.rollback()
            uow.release_write()
            await uow.run_on_rollback()
            raise
        finally:
            uow.release_write()
    await uow.run_after_commit()
