"""`kill -9` of a real `rooms serve` during uploads and during revocations (PostgreSQL, S3,
Redis): every 201 is playable, no row is left without its blob, and no answered revocation
is still stored. A revocation the killed process never answered is answered by a retry."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from rooms.access.media_tokens import POOL_AUDIO, media_url
from rooms.config import Settings
from rooms.models import Artifact
from tests.audio import wav16
from tests.conftest import TEST_SECRET
from tests.faults.conftest import UPLOAD, rows_and_blobs
from tests.helpers import resources

pytestmark = [pytest.mark.parametrize("tier", ["services"], indirect=True),
              pytest.mark.timeout(240)]
KILLS = 3
WAV = wav16(0.5)
CONCURRENT = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def rooms_serve(settings: Settings, root: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`rooms serve` on this test's database, Redis and bucket; up once /healthz is 200."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_", "S3_"))}
    env.update({"VAR_DIR": str(root / "var"), "LOG_LEVEL": "warning",
                "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
                "BLOB_STORE_URL": settings.blob_store_url,
                "S3_ENDPOINT_URL": settings.s3_endpoint_url,
                "S3_ACCESS_KEY": settings.s3_access_key.get_secret_value(),
                "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
                "S3_REGION": settings.s3_region, "SECRET_KEY": TEST_SECRET,
                "OPS_SHARED_SECRET": "ops-test-secret",
                "PUBLIC_INGEST_RATE": "100000/hour", "PUBLIC_INGEST_IP_RATE": "100000/hour",
                "PUBLIC_REVOKE_RATE": "100000/hour", "PUBLIC_REVOKE_IP_RATE": "100000/hour"})
    root.mkdir(parents=True, exist_ok=True)
    with (root / "rooms.log").open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (root / "rooms.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "rooms serve did not come up"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


async def _until_killed(base: str, proc: subprocess.Popen[bytes], send: Any,
                        answered: list[Any], kill_after: int) -> None:
    """`CONCURRENT` loops calling `send(http, n)` until `kill_after` answers arrived; then
    SIGKILL while the others are in flight, and let the loops see their connections die."""
    enough = asyncio.Event()
    counter = iter(range(10**9))

    async def loop(http: httpx.AsyncClient) -> None:
        while True:
            try:
                result = await send(http, next(counter))
            except httpx.HTTPError:
                return  # the process is gone
            if result is not None:
                answered.append(result)
                if len(answered) >= kill_after:
                    enough.set()

    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tasks = [asyncio.create_task(loop(http)) for _ in range(CONCURRENT)]
        waiter = asyncio.create_task(enough.wait())
        await asyncio.wait([waiter, *tasks], timeout=60, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:  # a loop that failed its assertions fails the test
            if task.done():
                task.result()
        assert waiter.done(), f"only {len(answered)} answers in 60 s"
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 10)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def _upload(http: httpx.AsyncClient, n: int) -> dict[str, Any] | None:
    body = WAV
    response = await http.post(UPLOAD, files={"file": ("take.wav", body, "audio/wav")},
                               data={"consent_mode": "ROOM"},
                               headers={"X-Rooms-Client-Id": f"kiosk-kill-{n % 16:02d}"})
    if response.status_code != 201:
        assert response.status_code < 500 or response.status_code == 503, response.text
        return None
    out: dict[str, Any] = response.json()
    out["sha256"] = hashlib.sha256(body).hexdigest()
    return out


async def test_kill_9_during_uploads_and_revocations_loses_nothing_answered(
        app: FastAPI, client: httpx.AsyncClient, settings: Settings, tmp_path: Path) -> None:
    res = resources(app)
    takes: list[dict[str, Any]] = []
    for round_ in range(KILLS):
        before = len(takes)
        with rooms_serve(settings, tmp_path / f"up{round_}") as (proc, base):
            await _until_killed(base, proc, _upload, takes, before + 15)
    assert len(takes) >= KILLS * 15
    async with res.sessions() as session:
        stored = {a.id: a for a in (await session.execute(select(Artifact))).scalars()}
    for take in takes:  # every 201 is there, whole, and plays
        row = stored[take["artifact"]["id"]]
        assert row.status == "ACTIVE" and row.raw_sha256 == take["sha256"]
    rows, blobs = await rows_and_blobs(res)
    assert set(rows.values()) <= blobs, "a row without its blob"
    for take in takes[:: max(1, len(takes) // 12)]:
        played = await client.get(media_url(res.settings, POOL_AUDIO, take["artifact"]["id"]))
        assert played.status_code == 200 and played.content[:4] == b"RIFF"
        assert hashlib.sha256(played.content).hexdigest() == take["sha256"]

    # revocations, killed in the middle, three times
    tokens = {t["revocation_token"]: t["artifact"]["id"] for t in takes}
    queue = list(tokens)
    answered: list[str] = []

    async def revoke(http: httpx.AsyncClient, _: int) -> str | None:
        if not queue:
            await asyncio.sleep(0.05)
            return None
        token = queue.pop()
        response = await http.post("/api/v1/revoke", json={"token": token})
        assert response.status_code == 200, response.text
        return token

    for round_ in range(KILLS):  # each round loses up to CONCURRENT in flight
        with rooms_serve(settings, tmp_path / f"rv{round_}") as (proc, base):
            await _until_killed(base, proc, revoke, answered, len(answered) + 5)
    rows, blobs = await rows_and_blobs(res)
    async with res.sessions() as session:
        status = dict((await session.execute(select(Artifact.id, Artifact.status))).all())
    for token in answered:  # an answered revocation: the take is gone, its audio too
        artifact_id = tokens[token]
        assert status[artifact_id] == "REVOKED"
        assert artifact_id not in rows
    gone_audio = {a.raw_uri for a in stored.values() if status[a.id] == "REVOKED"}
    assert not gone_audio & blobs, "a revoked take still stored"

    # the revocations nobody answered (killed, or never sent) are answered by a retry
    retry = [t for t in tokens if t not in answered]
    print(f"\nkill -9: {len(takes)} uploads answered 201 over {KILLS} kills, "
          f"{len(answered)} revocations answered over {KILLS} kills, {len(retry)} retried")
    res.settings.public_revoke_rate = res.settings.public_revoke_ip_rate = "100000/hour"
    for token in retry:
        again = await client.post("/api/v1/revoke", json={"token": token})
        assert again.status_code == 200, again.text
    rows, blobs = await rows_and_blobs(res)
    assert not set(tokens.values()) & set(rows)
    revoked_audio = {a.raw_uri for a in stored.values() if a.id in set(tokens.values())}
    assert not revoked_audio & blobs, "revoked audio still stored"
    assert set(rows.values()) <= blobs
