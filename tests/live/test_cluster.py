"""Two real uvicorn processes on one real Redis (services tier only).

Process A is this test process (the `app` fixture served by uvicorn); process B is
`rooms serve` in a subprocess with the same SECRET_KEY and REDIS_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from rooms.config import Settings
from rooms.live.bus import EVENTS_PREFIX
from tests.conftest import TEST_SECRET
from tests.live.conftest import Client, LiveServer, live_client, until

TTL_S = 2.0
pytestmark = [pytest.mark.parametrize("tier", ["services"], indirect=True),
              pytest.mark.live_settings(live_count_ttl_s=TTL_S)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def rooms_process(settings: Settings, root: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`rooms serve` on a free port: its own SQLite and blobs, our SECRET_KEY and Redis."""
    port = _free_port()
    root.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update({"VAR_DIR": str(root / "var"), "REDIS_URL": settings.redis_url,
                "SECRET_KEY": TEST_SECRET, "OPS_SHARED_SECRET": "ops-test-secret",
                "LIVE_COUNT_TTL_S": str(TTL_S), "LOG_LEVEL": "info"})
    log = (root / "rooms.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


async def until_async(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


async def test_two_processes_share_events_counts_and_tokens(
        live_server: LiveServer, settings: Settings, tmp_path: Path) -> None:
    hub_a = live_server.hub
    with rooms_process(settings, tmp_path / "b") as (proc_b, port_b):
        b = f"http://127.0.0.1:{port_b}"
        async with httpx.AsyncClient(base_url=b, timeout=5) as http:

            async def b_is_up() -> bool:
                assert proc_b.poll() is None, (tmp_path / "b" / "rooms.log").read_text()[-3000:]
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until_async(b_is_up, 60, "process B to serve")
            minted = (await http.post("/api/v1/live/token")).json()
            ws_b = await connect(minted["ws_url"], compression=None, open_timeout=10)
            client_b = Client(ws_b)
            try:
                assert await client_b.request({"op": "subscribe", "topics": ["stage", "beacons"]})
                async with live_client(live_server, topics=("stage",)) as client_a:
                    # Counts agree: A sees B's client, B's /metrics sees A's.
                    await until(lambda: hub_a.total == 2 and hub_a.counts()["beacons"] == 1,
                                what="A to count B's client")
                    assert hub_a.counts()["stage"] == 2

                    async def b_agrees() -> bool:
                        text = (await http.get("/metrics")).text
                        return (_metric(text, "rooms_live_connections") == 2.0 and _metric(
                            text, 'rooms_live_subscribers{topic="stage"}') == 2.0)

                    await until_async(b_agrees, 10, "B's metrics to count A's client")

                    # An event published on A reaches B's client (and A's own).
                    await hub_a.publish("stage", {"from": "a"})
                    assert await client_b.recv() == {"topic": "stage", "from": "a"}
                    assert await client_a.recv() == {"topic": "stage", "from": "a"}
                    # Anyone on Redis can publish with the documented channel format.
                    redis = Redis.from_url(settings.redis_url)
                    try:
                        await redis.publish(EVENTS_PREFIX + "stage",
                                            "elsewhere " + json.dumps({"topic": "stage", "n": 3}))
                    finally:
                        await redis.aclose()
                    assert await client_b.recv() == {"topic": "stage", "n": 3}
                    assert await client_a.recv() == {"topic": "stage", "n": 3}

                    # B's token was used on B: A refuses it too.
                    async with live_client(live_server, token=minted["token"]) as again:
                        code, reason, _ = await again.closed()
                    assert (code, reason) == (4401, "token already used")

                    # B dies without a word: its client leaves A's counts within the TTL.
                    proc_b.send_signal(signal.SIGKILL)
                    proc_b.wait()
                    killed = time.monotonic()
                    await until(lambda: hub_a.total == 1 and hub_a.counts()["beacons"] == 0,
                                timeout=TTL_S + 10, what="B's client to leave the counts")
                    assert time.monotonic() - killed <= TTL_S + 1.0  # 1 s of slack for load
                    assert hub_a.counts()["stage"] == 1
            finally:
                await ws_b.close()
