"""FastAPI dependencies: the app's resources and one transaction per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from rooms.logging import get_logger
from rooms.resources import Resources

log = get_logger("rooms.deps")


def get_resources(request: Request) -> Resources:
    res: Resources = request.app.state.rooms
    return res


ResourcesDep = Annotated[Resources, Depends(get_resources)]


class UnitOfWork:
    """A request's session plus work to do only once its transaction has committed."""

    def __init__(self, session: AsyncSession, resources: Resources) -> None:
        self.session = session
        self.resources = resources
        self._after_commit: list[Callable[[], Awaitable[Any]]] = []
        self._on_rollback: list[Callable[[], Awaitable[Any]]] = []
        self._holds_write_lock = False

    async def begin_write(self) -> None:
        """Take this process's SQLite write slot until commit or rollback.

        SQLite has one writer at a time; queueing writers here, in order, beats letting them
        collide and back off inside SQLite's busy handler (which sleeps, and spikes p99).
        PostgreSQL needs no such slot, so there this does nothing.
        """
        lock = self.resources.write_lock
        if lock is not None and not self._holds_write_lock:
            await lock.acquire()
            self._holds_write_lock = True

    def release_write(self) -> None:
        if self._holds_write_lock and self.resources.write_lock is not None:
            self.resources.write_lock.release()
            self._holds_write_lock = False

    def after_commit(self, fn: Callable[[], Awaitable[Any]]) -> None:
        self._after_commit.append(fn)

    def on_rollback(self, fn: Callable[[], Awaitable[Any]]) -> None:
        """Undo work outside the database (a written blob) if the transaction fails."""
        self._on_rollback.append(fn)

    async def run_on_rollback(self) -> None:
        for fn in reversed(self._on_rollback):
            try:
                await fn()
            except Exception as exc:  # the sweep catches what this misses
                log.warning("uow.compensation_failed", error=type(exc).__name__)

    def enqueue_after_commit(self, name: str, *args: Any, job_id: str | None = None) -> None:
        self.after_commit(lambda: self.resources.jobs.enqueue(name, *args, job_id=job_id))

    async def run_after_commit(self) -> None:
        for fn in self._after_commit:
            await fn()


async def get_uow(resources: ResourcesDep) -> AsyncIterator[UnitOfWork]:
    async with resources.sessions() as session:
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


# scope="function": commit before the response leaves, so a 201 means it is stored.
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
