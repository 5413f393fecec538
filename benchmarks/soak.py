"""Soak: one `rooms serve` under steady mixed load for a configurable time (`make soak`).

Load (open loop, so a slow server does not slow the load down):
- `--clients` websocket clients (default 1,000) on /ws/live, subscribed to `surface`, so
  every accepted upload is one event to each of them;
- `--uploads` uploads/s (default 20) of a 1 s 16 kHz take, each from its own kiosk id;
- `--pool` GET /api/v1/pool/next per second (default 50).

The report gives, per kind: requests, errors by status (0 = no answer), p50/p99/max ms;
for the websockets: connected, dropped, events received against those sent; and the
server's RSS, sampled every 5 s, with the least-squares trend of the last half in MB/min
(a leak grows steadily; an allocator high-water mark levels off).

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--clients 1000] [--uploads 20]
        [--pool 50] [--json report.json]

The server runs embedded (SQLite + files) in a temporary folder unless DATABASE_URL etc.
are set in the environment, with the ingest budget lifted (it would answer 429).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rooms.kit.wav import encode_pcm16_wav  # noqa: E402
from rooms.live.tokens import LiveTokens  # noqa: E402

SECRET = secrets.token_urlsafe(32)
UPLOAD = "/api/v1/artifacts/audio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def take(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    n = int(seconds * rate)
    pcm = b"".join(int(8000 * math.sin(i / 7)).to_bytes(2, "little", signed=True)
                   for i in range(n))
    return encode_pcm16_wav(pcm, rate)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Kind:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)  # "503 uploads_busy": count
    scheduled: int = 0  # started on the schedule; those not answered by the end are counted

    def add(self, status: int, seconds: float, code: str = "") -> None:
        self.latencies.append(seconds)
        if not 200 <= status < 300:
            key = f"{status} {code}".strip()
            self.errors[key] = self.errors.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        ms = sorted(x * 1000 for x in self.latencies)

        def q(p: float) -> float:
            return round(ms[min(len(ms) - 1, int(p * len(ms)))], 1) if ms else 0.0

        return {"scheduled": self.scheduled, "answered": len(ms),
                "unanswered_at_end": self.scheduled - len(ms),
                "requests": len(ms), "errors": dict(sorted(self.errors.items())),
                "p50_ms": q(0.50), "p99_ms": q(0.99), "max_ms": round(ms[-1], 1) if ms else 0}


@dataclass
class Sockets:
    connected: int = 0
    failed: int = 0
    dropped: int = 0
    received: int = 0


def _code(response: httpx.Response) -> str:
    """The error code of an error answer ("" for a success or a body that is not ours)."""
    if response.status_code < 400:
        return ""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def trend(samples: list[tuple[float, float]]) -> dict[str, float]:
    """RSS (MB) of the last half: first, last, and the least-squares slope in MB/min."""
    half = samples[len(samples) // 2:]
    if len(half) < 2:
        return {"first_mb": 0.0, "last_mb": 0.0, "slope_mb_per_min": 0.0}
    xs = [t / 60 for t, _ in half]
    ys = [r for _, r in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den
    return {"first_mb": round(ys[0], 1), "last_mb": round(ys[-1], 1),
            "min_mb": round(min(ys), 1), "max_mb": round(max(ys), 1),
            "slope_mb_per_min": round(slope, 3)}


class Soak:
    def __init__(self, base: str, ws: str, pid: int, args: argparse.Namespace) -> None:
        self.base, self.ws, self.pid, self.args = base, ws, pid, args
        self.uploads, self.pool = Kind(), Kind()
        self.sockets = Sockets()
        self.rss: list[tuple[float, float]] = []
        self.stop = asyncio.Event()
        self.wav = take()
        self.tokens = LiveTokens(secret=SECRET, ttl_s=600)
        self.tasks: set[asyncio.Task[None]] = set()

    async def client(self, n: int, ready: asyncio.Semaphore) -> None:
        try:
            ws: ClientConnection = await connect(
                f"{self.ws}/ws/live?token={self.tokens.mint('live')}", compression=None,
                open_timeout=60, ping_interval=None, max_queue=None)
        except Exception:  # counted; the soak goes on
            self.sockets.failed += 1
            ready.release()
            return
        try:
            await ws.send('{"op":"subscribe","topics":["surface"]}')
            await ws.recv()
            self.sockets.connected += 1
            ready.release()
            while True:
                await ws.recv(decode=False)
                self.sockets.received += 1
        except ConnectionClosed:
            if not self.stop.is_set():
                self.sockets.dropped += 1
        finally:
            await ws.close()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def upload(self, http: httpx.AsyncClient, n: int) -> None:
        start = time.perf_counter()
        try:
            r = await http.post(UPLOAD, files={"file": ("t.wav", self.wav, "audio/wav")},
                                data={"consent_mode": "ROOM"},
                                headers={"X-Rooms-Client-Id": f"soak-kiosk-{n:08d}"})
            status, code = r.status_code, _code(r)
        except httpx.HTTPError:
            status, code = 0, ""
        self.uploads.add(status, time.perf_counter() - start, code)

    async def next_(self, http: httpx.AsyncClient, n: int) -> None:
        start = time.perf_counter()
        try:
            r = await http.get("/api/v1/pool/next",
                               headers={"X-Rooms-Client-Id": f"soak-kiosk-{n % 500:08d}"})
            status, code = r.status_code, _code(r)
        except httpx.HTTPError:
            status, code = 0, ""
        self.pool.add(status, time.perf_counter() - start, code)

    async def every(self, per_s: float, fn: Any, http: httpx.AsyncClient, kind: Kind) -> None:
        """Start `fn(http, n)` `per_s` times a second on a fixed schedule (open loop)."""
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while not self.stop.is_set():
            self.spawn(fn(http, n))
            kind.scheduled += 1
            n += 1
            await asyncio.sleep(max(0.0, start + n / per_s - loop.time()))

    async def sample(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            self.rss.append((time.monotonic() - start, rss_mb(self.pid)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), 5)

    async def run(self) -> dict[str, Any]:
        ready = asyncio.Semaphore(0)
        clients = [asyncio.create_task(self.client(n, ready))
                   for n in range(self.args.clients)]
        for _ in range(self.args.clients):
            await ready.acquire()
        print(f"soak: {self.sockets.connected} websockets open "
              f"({self.sockets.failed} failed); load for {self.args.minutes:g} min",
              flush=True)
        limits = httpx.Limits(max_connections=400, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as http:
            load = [asyncio.create_task(self.every(self.args.uploads, self.upload, http,
                                                   self.uploads)),
                    asyncio.create_task(self.every(self.args.pool, self.next_, http, self.pool)),
                    asyncio.create_task(self.sample())]
            await asyncio.sleep(self.args.minutes * 60)
            self.stop.set()
            await asyncio.gather(*load)
            if self.tasks:
                await asyncio.wait(set(self.tasks), timeout=60)
        for task in clients:
            task.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
        sent = sum(1 for s in self.uploads.latencies) - sum(self.uploads.errors.values())
        return {"minutes": self.args.minutes, "clients": self.args.clients,
                "uploads_per_s": self.args.uploads, "pool_per_s": self.args.pool,
                "uploads": self.uploads.summary(), "pool_next": self.pool.summary(),
                "websockets": {"connected": self.sockets.connected,
                               "failed": self.sockets.failed,
                               "dropped": self.sockets.dropped,
                               "events_received": self.sockets.received,
                               "events_expected": sent * self.sockets.connected},
                "rss_mb_samples": [round(r, 1) for _, r in self.rss],
                "rss_last_half": trend(self.rss)}


def start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("VAR_DIR", str(root / "var"))
    env.update({"SECRET_KEY": SECRET, "LOG_LEVEL": "warning",
                "PUBLIC_INGEST_RATE": "100000000/hour", "PUBLIC_INGEST_IP_RATE": "100000000/hour",
                "PYTHONPATH": str(REPO / "src")})
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                            cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"rooms serve exited:\n{(root / 'server.log').read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("rooms serve did not come up")


def print_report(report: dict[str, Any]) -> None:
    print(f"\nsoak: {report['minutes']:g} min, {report['clients']} websockets, "
          f"{report['uploads_per_s']} uploads/s, {report['pool_per_s']} pool/next/s, "
          f"load average {report['load_average']}")
    for kind in ("uploads", "pool_next"):
        k = report[kind]
        print(f"  {kind:9} {k['scheduled']:7} sent, {k['unanswered_at_end']} unanswered at "
              f"the end, errors {k['errors'] or 0}, "
              f"p50 {k['p50_ms']} ms, p99 {k['p99_ms']} ms, max {k['max_ms']} ms")
    w = report["websockets"]
    print(f"  websockets: {w['connected']} connected, {w['failed']} failed, "
          f"{w['dropped']} dropped; events {w['events_received']} of {w['events_expected']}")
    t = report["rss_last_half"]
    print(f"  RSS: {report['rss_mb_samples'][:1]} MB at start; last half {t['first_mb']} -> "
          f"{t['last_mb']} MB (min {t.get('min_mb')}, max {t.get('max_mb')}), "
          f"trend {t['slope_mb_per_min']:+} MB/min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--uploads", type=float, default=20.0)
    parser.add_argument("--pool", type=float, default=50.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rooms-soak-") as tmp:
        root = Path(tmp)
        port = free_port()
        proc = start_server(root, port)
        try:
            soak = Soak(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", proc.pid, args)
            report = asyncio.run(soak.run())
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        report["server_exit_code"] = proc.returncode
        report["load_average"] = [round(x, 1) for x in os.getloadavg()]
        print_report(report)
        if args.json is not None:
            args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
