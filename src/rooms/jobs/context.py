"""Typed access to what a job's ctx dict carries, in either runner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from rooms.config import Settings
from rooms.storage import BlobStore


@dataclass(frozen=True, slots=True)
class JobDeps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    redis: Any

    @classmethod
    def of(cls, ctx: dict[str, Any]) -> JobDeps:
        return cls(ctx["settings"], ctx["sessions"], ctx["blobs"], ctx.get("redis"))
