"""FastAPI dependencies: the app's resources and one unit of work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from rooms.resources import Resources
from rooms.uow import UnitOfWork, unit_of_work

__all__ = ["ResourcesDep", "UnitOfWork", "UowDep", "get_resources", "get_uow"]


async def get_resources(request: Request) -> Resources:
    """The app's resources. A coroutine on purpose: FastAPI runs a plain `def` dependency
    in its thread pool, a thread hop per request for one attribute read."""
    res: Resources = request.app.state.rooms
    return res


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_uow(resources: ResourcesDep) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work (`rooms.uow`), the same one a job opens."""
    async with unit_of_work(resources) as uow:
        yield uow


# scope="function": commit before the response leaves, so a 201 means it is stored.
UowDep = Annotated[UnitOfWork, Depends(get_uow, scope="function")]
