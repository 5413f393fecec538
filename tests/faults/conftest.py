"""Fault tests: real services stopped under load, real `rooms serve` processes killed.

Every test here runs in the services tier only. `Load` drives the public API from a few
concurrent clients and records what each request answered and how long it took, so a test
can say "never a 500, never slower than 5 s" about all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from rooms.models import Artifact
from tests.audio import wav16
from tests.recordings.conftest import CLIENT

UPLOAD = "/api/v1/artifacts/audio"


def stoppable(backend: Any, name: str) -> Any:
    server = getattr(backend, name)
    if getattr(server, "external", False):
        pytest.skip(f"{name} comes from the environment; cannot stop it")
    return server


@contextlib.contextmanager
def stopped(backend: Any, name: str) -> Iterator[Any]:
    """The service stopped for the block, started again after (even on failure)."""
    server = stoppable(backend, name)
    server.stop()
    try:
        yield server
    finally:
        server.start()


@dataclass
class Answer:
    what: str
    status: int  # 0: no answer (transport error)
    code: str | None
    seconds: float
    at: float  # loop time when it was sent


@dataclass
class Load:
    """Uploads, pool/next and surface/state from `clients` concurrent loops until stopped."""

    client: httpx.AsyncClient
    clients: int = 4
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _one(self, what: str, call: Callable[[], Any]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            response: httpx.Response = await call()
            status = response.status_code
            try:
                code = response.json().get("error", {}).get("code")
            except ValueError:
                code = None
        except httpx.HTTPError:
            status, code = 0, None
        self.answers.append(Answer(what, status, code, loop.time() - start, start))

    async def _loop(self, n: int) -> None:
        headers = {**CLIENT, "X-Rooms-Client-Id": f"kiosk-fault-{n:02d}"}
        wav = wav16(0.5)
        while not self._stop.is_set():
            await self._one("upload", lambda: self.client.post(
                UPLOAD, files={"file": ("take.wav", wav, "audio/wav")},
                data={"consent_mode": "ROOM"}, headers=headers, timeout=30))
            await self._one("pool", lambda: self.client.get(
                "/api/v1/pool/next", headers=headers, timeout=30))
            await self._one("state", lambda: self.client.get(
                "/api/v1/surface/state", headers=headers, timeout=30))
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Load]:
        tasks = [asyncio.create_task(self._loop(n)) for n in range(self.clients)]
        try:
            yield self
        finally:
            self._stop.set()
            await asyncio.gather(*tasks)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at < end]


async def recovered(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Seconds until `await check()` is true (polled), or AssertionError after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if await check():
            return time.monotonic() - start
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recovery within {timeout} s: {what}")


async def rows_and_blobs(res: Any) -> tuple[dict[int, str], set[str]]:
    """{artifact id: raw key} of every stored row with a raw blob, and every blob key."""
    async with res.sessions() as session:
        rows = (await session.execute(select(Artifact.id, Artifact.raw_uri))).all()
    blobs = {k for k in await res.blobs.list() if not k.startswith("ledger/")}  # not takes'
    return {int(i): str(k) for i, k in rows if k}, blobs
