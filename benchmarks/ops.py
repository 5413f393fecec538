"""Operator benchmark: a control change to the `surface` event at every listener, and the
cost of one node status.

A fresh embedded instance is seeded with N takes (rows only, as benchmarks/ingest.py does)
and served by `rooms serve` in its own process (pinned to CPU 0 when `taskset` exists).
This process (CPU 1) opens L raw websocket listeners subscribed to `surface`, then, R
times, POSTs /api/v1/operator/controls (quieter mode on, then off, with the Bearer secret)
and waits until every listener has the `posture` event: latency = receipt minus the moment the
POST was sent, over every listener and round (p50, p99, max; one uncounted warm-up round
first: the first change after start-up pays for cold caches, ~140 ms). The status cost is the time
of GET /api/v1/node/status (the same dict the /ws/ops push sends) over R calls.

    PYTHONPATH=src python benchmarks/ops.py [--quick] [--takes 100000] [--listeners 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rooms.live.tokens import LiveTokens  # noqa: E402

SECRET_KEY = secrets.token_urlsafe(32)
OPS_SECRET = secrets.token_urlsafe(24)
SUBSCRIBE = b'{"op":"subscribe","topics":["surface"]}'


def frame(payload: bytes, opcode: int = 1) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class Listener(asyncio.Protocol):
    """Handshake, subscribe to `surface`, note when each `posture` event arrives."""

    def __init__(self, path: str, ready: asyncio.Future[None]) -> None:
        self.path, self.ready = path, ready
        self.buf = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None
        self.postures: list[float] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                              ).encode())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del buf[:end + 4]
            self.open = True
            assert self.transport is not None
            self.transport.write(frame(SUBSCRIBE))
        now = time.time()
        i, size = 0, len(buf)
        while size - i >= 2:
            n, head = buf[i + 1] & 0x7F, 2
            if n == 126:
                if size - i < 4:
                    break
                n, head = int.from_bytes(buf[i + 2:i + 4], "big"), 4
            elif n == 127:
                if size - i < 10:
                    break
                n, head = int.from_bytes(buf[i + 2:i + 10], "big"), 10
            if size - i < head + n:
                break
            opcode, start = buf[i] & 0x0F, i + head
            i = start + n
            if opcode == 1:
                if buf.find(b'"event":"posture"', start, i) >= 0:
                    self.postures.append(now)
                elif buf.find(b'"subscribed"', start, i) >= 0 and not self.ready.done():
                    self.ready.set_result(None)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(frame(bytes(buf[start:i]), 0xA))
        del buf[:i]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(var_dir: Path) -> dict[str, str]:
    return {**os.environ, "VAR_DIR": str(var_dir), "SECRET_KEY": SECRET_KEY,
            "OPS_SHARED_SECRET": OPS_SECRET, "LOG_LEVEL": "warning", "OPS_STATUS_PUSH_S": "0",
            "PYTHONPATH": str(REPO / "src")}


def seed(var_dir: Path, count: int) -> None:
    subprocess.run([sys.executable, "-c", "from rooms.cli import main; main()", "migrate"],
                   env=env_for(var_dir), check=True)
    db = sqlite3.connect(var_dir / "rooms.db")
    now = "2026-11-23 00:00:00.000000"
    db.executemany("INSERT INTO consent_manifest (id, created_at, json, revocation_token_hash)"
                   " VALUES (?, ?, '{}', ?)", ((i, now, f"{i:064x}") for i in range(1, count + 1)))
    db.executemany(
        "INSERT INTO artifact (id, kind, consent_id, created_at, status, consent_mode, raw_uri,"
        " raw_sha256, duration_ms, sample_rate, effect_profile, effect_metadata,"
        " deployment_kind, topic_tag, lifecycle_status, wear, play_count, expires_at)"
        " VALUES (?, 'audio_snippet', ?, ?, 'ACTIVE', 'ROOM', ?, '', 10000, 48000, 'clear',"
        " '{}', 'memory', '', '', 0.0, 0, '2099-01-01 00:00:00.000000')",
        ((i, i, now, f"raw/{i:020x}/audio.wav") for i in range(1, count + 1)))
    db.commit()
    db.close()


@contextlib.contextmanager
def serve(var_dir: Path, port: int) -> Iterator[None]:
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") and os.cpu_count() != 1 else []
    proc = subprocess.Popen([*pin, sys.executable, "-c", "from rooms.cli import main; main()",
                             "serve", "--port", str(port)], env=env_for(var_dir),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), .2):
                break
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:] if proc.stderr else "")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def connect(port: int, n: int) -> list[Listener]:
    loop = asyncio.get_running_loop()
    tokens = LiveTokens(secret=SECRET_KEY, ttl_s=300)
    gate = asyncio.Semaphore(100)
    out: list[Listener] = []

    async def one() -> None:
        async with gate:
            ready: asyncio.Future[None] = loop.create_future()
            listener = Listener(f"/ws/live?token={tokens.mint('live')}", ready)
            await loop.create_connection(lambda: listener, "127.0.0.1", port)
            await asyncio.wait_for(ready, 30)
            out.append(listener)

    await asyncio.gather(*(one() for _ in range(n)))
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q)) if values else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--takes", type=int, default=100_000)
    parser.add_argument("--listeners", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10,000 takes, 200 listeners")
    parser.add_argument("--verbose", action="store_true", help="each round's times")
    args = parser.parse_args()
    if args.quick:
        args.takes, args.listeners, args.rounds = 10_000, 200, 8
    with tempfile.TemporaryDirectory(prefix="rooms-ops-bench-") as tmp:
        var_dir = Path(tmp)
        seed(var_dir, args.takes)
        port = free_port()
        with serve(var_dir, port):
            listeners = await connect(port, args.listeners)
            bearer = {"Authorization": f"Bearer {OPS_SECRET}"}
            latencies: list[float] = []
            status_s: list[float] = []
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}",
                                         headers=bearer, timeout=60) as client:
                for r in range(-1, args.rounds):  # round -1 warms up, uncounted
                    for lst in listeners:
                        lst.postures.clear()
                    sent = time.time()
                    answer = await client.post("/api/v1/operator/controls",
                                               json={"quieter_mode": r % 2 == 0})
                    answer.raise_for_status()
                    deadline = time.time() + 10
                    while (any(not lst.postures for lst in listeners)
                           and time.time() < deadline):
                        await asyncio.sleep(0.001)
                    got = [lst.postures[0] - sent for lst in listeners if lst.postures]
                    if r >= 0:
                        latencies += got
                    if args.verbose:
                        print(f"round {r}: POST {answer.elapsed.total_seconds() * 1000:.1f} ms,"
                              f" first {min(got) * 1000:.1f} ms, last {max(got) * 1000:.1f} ms")
                    missing = sum(1 for lst in listeners if not lst.postures)
                    if missing:
                        print(f"round {r}: {missing} listener(s) missed the event")
                for _ in range(args.rounds):
                    began = time.perf_counter()
                    (await client.get("/api/v1/node/status")).raise_for_status()
                    status_s.append(time.perf_counter() - began)
            for lst in listeners:
                if lst.transport is not None:
                    lst.transport.close()
    print(f"| takes | listeners | rounds | control→surface p50 ms | p99 ms | max ms "
          f"| node status p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|\n"
          f"| {args.takes:,} | {args.listeners:,} | {args.rounds} | {pct(latencies, 50):.1f} "
          f"| {pct(latencies, 99):.1f} | {max(latencies) * 1000:.1f} "
          f"| {pct(status_s, 50):.1f} | {pct(status_s, 99):.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
