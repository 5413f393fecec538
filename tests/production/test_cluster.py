"""Three `rooms serve` processes and one `rooms worker` on one PostgreSQL, Redis and S3,
behind a real Caddy running the project's Caddyfile (services tier; no Docker engine).

What a venue notices: a take uploaded through the proxy plays from every process; a
FOSSIL's spectrogram is rendered by the worker; a websocket (upgraded by Caddy, or opened on
another process) sees the steward's change on `surface`; Caddy's body limit and header
handling meet the app's (TRUSTED_PROXIES); and when the stream leader is killed, another
process runs the stream workers within LEADER_TTL_S + 2 s, never two at once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from rooms.access.media_tokens import POOL_AUDIO, media_url
from rooms.recordings.upload import MULTIPART_OVERHEAD
from rooms.supervisor.leader import LOCK_KEY
from tests.audio import wav16
from tests.conftest import TEST_SECRET, make_settings, unavailable
from tests.process import (
    Proc,
    answers,
    clean_env,
    free_port,
    rooms_serve,
    rooms_worker,
    running,
    spawn,
    wait_until,
)
from tests.production import caddy_binary

pytestmark = [pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
LEADER_TTL_S = 2.0
MAX_UPLOAD = 200_000
OPS = {"Authorization": "Bearer ops-test-secret"}
UPLOAD = "/api/v1/artifacts/audio"


@pytest.fixture
def cluster_env(services: Any, tmp_path: Path) -> dict[str, str]:
    name = f"c_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(services.postgres.create_database(name, template="rooms_template"))
    redis = Redis.from_url(services.redis.url)
    asyncio.run(_flush(redis))
    return clean_env(
        DATABASE_URL=url, REDIS_URL=services.redis.url,
        BLOB_STORE_URL=f"s3://{name.replace('_', '-')}",
        S3_ENDPOINT_URL=services.s3.endpoint_url, S3_ACCESS_KEY=services.s3.access_key,
        S3_SECRET_KEY=services.s3.secret_key, S3_REGION=services.s3.region,
        SECRET_KEY=TEST_SECRET, OPS_SHARED_SECRET="ops-test-secret", LOG_LEVEL="info",
        LEADER_TTL_S=str(LEADER_TTL_S), LIVE_COUNT_TTL_S="2",
        NOISE_MIN_INTERVAL="0.1", NOISE_MAX_INTERVAL="0.2",
        INGEST_MAX_UPLOAD_BYTES=str(MAX_UPLOAD), OPS_ALLOWED_NETWORKS="127.0.0.1/32",
        PUBLIC_INGEST_RATE="10000/hour", PUBLIC_INGEST_IP_RATE="10000/hour",
        JOB_POLL_DELAY_S="0.05", DATABASE_POOL_SIZE="3", DATABASE_MAX_OVERFLOW="2")


async def _flush(redis: Redis) -> None:
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


def caddy(root: Path, upstreams: list[Proc]) -> Proc:
    binary = caddy_binary()
    if binary is None:
        unavailable("caddy is missing (apt-get install caddy)", "the proxy test")
        raise AssertionError("unreachable")
    port = free_port()
    env = clean_env(ROOMS_SITE=f"http://127.0.0.1:{port}", ROOMS_TLS="off",
                    ROOMS_UPSTREAM="static",
                    ROOMS_UPSTREAMS=" ".join(f"127.0.0.1:{p.port}" for p in upstreams),
                    ROOMS_MAX_REQUEST_BYTES=str(MAX_UPLOAD + MULTIPART_OVERHEAD),
                    XDG_DATA_HOME=str(root / "data"), XDG_CONFIG_HOME=str(root / "config"),
                    HOME=str(root))
    proc = spawn("caddy", [binary, "run", "--config", str(ROOT / "Caddyfile"),
                           "--adapter", "caddyfile"], root, env, port)
    wait_until(proc, lambda: answers(proc.base + "/healthz"), "caddy")
    return proc


@asynccontextmanager
async def live(url: str, topics: list[str]) -> AsyncIterator[ClientConnection]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        minted = (await http.post("/api/v1/live/token")).json()
    async with connect(minted["ws_url"], open_timeout=10, compression=None) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": topics}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["op"] == "subscribed", reply
        yield ws


async def next_event(ws: ClientConnection, topic: str, timeout: float = 15.0,
                     **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"no {topic} event {match} in {timeout} s"
        data: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), left))
        if data.get("topic") == topic and all(data.get(k) == v for k, v in match.items()):
            return data


async def leader_pid(redis_url: str) -> int | None:
    redis = Redis.from_url(redis_url)
    try:
        holder = await redis.get(LOCK_KEY)
    finally:
        await redis.aclose()
    return None if holder is None else int(holder.decode().rsplit("-", 2)[1])


async def test_three_api_processes_and_a_worker_behind_caddy(
        cluster_env: dict[str, str], tmp_path: Path) -> None:
    env = cluster_env
    apis = [rooms_serve(f"api{i}", tmp_path / f"api{i}", env) for i in (1, 2, 3)]
    worker = rooms_worker("worker", tmp_path / "worker", env)
    proxy = caddy(tmp_path / "caddy", apis)
    settings = make_settings(tmp_path)  # same SECRET_KEY: signs media URLs as the processes do
    with running(proxy, worker, *apis):
        async with AsyncExitStack() as stack:
            via = await stack.enter_async_context(httpx.AsyncClient(base_url=proxy.base,
                                                                    timeout=30))
            direct = [await stack.enter_async_context(
                httpx.AsyncClient(base_url=p.base, timeout=30)) for p in apis]

            # -- the proxy: body limit, and client addresses (TRUSTED_PROXIES) ---------------
            big = wav16(MAX_UPLOAD / 96_000 + 0.5)  # 48 kHz 16-bit: past the limit
            refused = await via.post(UPLOAD, files={"file": ("big.wav", big, "audio/wav")},
                                     data={"consent_mode": "ROOM"})
            assert refused.status_code == 413, refused.text
            spoof = {**OPS, "X-Forwarded-For": "203.0.113.9"}
            # Caddy replaces a visitor's X-Forwarded-For: the app sees the real 127.0.0.1
            assert (await via.get("/api/v1/operator/workers", headers=spoof)).status_code == 200
            # ...while a trusted peer's header is believed (so Caddy's own is what counts)
            assert (await direct[0].get("/api/v1/operator/workers",
                                        headers=spoof)).status_code == 403

            # -- a take through the proxy plays from every process ------------------------------
            take = wav16(1.0, rate=16_000)
            made = await via.post(UPLOAD, files={"file": ("t.wav", take, "audio/wav")},
                                  data={"consent_mode": "FOSSIL"})
            assert made.status_code == 201, made.text
            artifact = made.json()["artifact"]["id"]
            for http in direct:
                played = await http.get(media_url(settings, POOL_AUDIO, artifact))
                assert played.status_code == 200 and played.content == take

            # -- the worker renders the FOSSIL's spectrogram --------------------------------------
            deadline = time.monotonic() + 60
            while True:
                items = (await direct[1].get("/api/v1/derivatives/spectrograms",
                                             headers=OPS)).json()["items"]
                if any(i["artifact_id"] == artifact for i in items):
                    break
                assert worker.alive(), worker.tail()
                assert time.monotonic() < deadline, "no spectrogram from the worker in 60 s"
                await asyncio.sleep(0.2)
            assert "derivatives" in worker.tail(200_000) or "render" in worker.tail(200_000)

            # -- the steward's change reaches a websocket on another process --------------------
            async with live(proxy.base, ["surface"]) as via_ws, \
                    live(apis[2].base, ["surface"]) as ws3:
                changed = await direct[0].post("/api/v1/operator/controls", headers=OPS,
                                               json={"quieter_mode": True})
                assert changed.status_code == 200, changed.text
                for ws in (ws3, via_ws):
                    event = await next_event(ws, "surface", event="posture")
                    assert event["quieter_mode"] is True
            await direct[0].post("/api/v1/operator/controls", headers=OPS,
                                 json={"quieter_mode": False})

            # -- the stream leader dies: another process takes over, never two at once ----------
            pid = await leader_pid(env["REDIS_URL"])
            leader = next(p for p in apis if p.pid == pid)
            watcher = next(p for p in apis if p is not leader)
            sessions: list[tuple[float, str]] = []
            async with live(watcher.base, ["noise_metadata"]) as ws:
                async def collect(until: float) -> None:
                    while time.monotonic() < until:
                        with_timeout = max(0.05, until - time.monotonic())
                        try:
                            data = json.loads(await asyncio.wait_for(ws.recv(), with_timeout))
                        except TimeoutError:
                            return
                        if data.get("topic") == "noise_metadata" and "session" in data:
                            sessions.append((time.monotonic(), str(data["session"])))
                await collect(time.monotonic() + 2.0)
                assert sessions, "the leader's noise stream was silent"
                before = sessions[-1][1]
                leader.kill()
                killed_at = time.monotonic()
                await collect(killed_at + LEADER_TTL_S + 4.0)
            after = [(t, s) for t, s in sessions if t > killed_at and s != before]
            assert after, f"no new noise session after the leader died: {sessions[-5:]}"
            assert after[0][0] - killed_at <= LEADER_TTL_S + 2.0, after[0][0] - killed_at
            # blocks of one session each, none coming back: no worker ran twice at once
            order = [s for _, s in sessions]
            blocks = [s for i, s in enumerate(order) if i == 0 or order[i - 1] != s]
            assert len(blocks) == len(set(blocks)), blocks
            new_pid = await leader_pid(env["REDIS_URL"])
            assert new_pid in {p.pid for p in apis if p is not leader}

            # /health answers the new leader's workers from every live process
            for proc, http in zip(apis, direct, strict=True):
                if proc is leader:
                    continue
                workers = (await http.get("/health")).json()["workers"]
                assert workers["noise_metadata"]["state"] == "running", workers
            # and the proxy keeps serving with one process gone
            assert (await via.get("/healthz")).status_code == 200
