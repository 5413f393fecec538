"""Soak: one `rooms serve` under steady mixed load for a configurable time (`make soak`).

Load (open loop, so a slow server does not slow the load down):
- `--clients` websocket clients (default 1,000) on /ws/live, subscribed to `surface`, so
  every accepted upload is one event to each of them;
- `--uploads` uploads/s (default 20) of a 1 s 16 kHz take, each from its own kiosk id;
- `--pool` GET /api/v1/pool/next per second (default 50).

The report gives, per kind: requests, errors by status (0 = no answer), p50/p99/max ms;
for the websockets: connected, dropped, events received against those sent; and the
server's RSS, sampled every 5 s, with the least-squares trend of the last half, the middle
third and the last third in MB/min, and a verdict: RSS "levels" when the last third's
slope is under LEVEL_MB_PER_MIN or under a quarter of the middle third's (a leak grows
steadily; an allocator high-water mark levels off).

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--clients 1000] [--uploads 20]
        [--pool 50] [--json report.json] [--trace FRAMES] [--malloc-trim]
        [--malloc-arena-max N] [--kiosks N]

To name what grows, `--trace 8` runs the server under tracemalloc
(`benchmarks/traced_serve.py`: no route, driven by a signal) and reports Python's traced
heap beside RSS every 5 s, plus the file:line that gained most bytes between the snapshot
at one third and the one at the end (MB/min). Tracing slows the server (~2x); its latencies
are not the server's. `--malloc-trim` calls glibc's malloc_trim(0) before each sample and
`--malloc-arena-max N` sets MALLOC_ARENA_MAX: if RSS then levels, the growth was the
allocator's, not Python's. `--kiosks N` spreads the uploads over N kiosk ids instead of
one new id per upload (the default, the worst case for per-kiosk state).

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
import tracemalloc
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
LEVEL_MB_PER_MIN = 0.2  # a last-third RSS slope under this counts as level
TRACED_SERVE = Path(__file__).resolve().with_name("traced_serve.py")


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


def trend(samples: list[tuple[float, float]], start: float = 0.5,
          end: float = 1.0) -> dict[str, float]:
    """MB samples `(seconds, MB)` between fractions `start` and `end` of the list: first,
    last, min, max and the least-squares slope in MB/min (zeros with under 2 samples)."""
    part = samples[int(len(samples) * start):int(len(samples) * end)]
    if len(part) < 2:
        return {"first_mb": 0.0, "last_mb": 0.0, "min_mb": 0.0, "max_mb": 0.0,
                "slope_mb_per_min": 0.0}
    xs = [t / 60 for t, _ in part]
    ys = [r for _, r in part]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den
    return {"first_mb": round(ys[0], 1), "last_mb": round(ys[-1], 1),
            "min_mb": round(min(ys), 1), "max_mb": round(max(ys), 1),
            "slope_mb_per_min": round(slope, 3)}


def verdict(samples: list[tuple[float, float]]) -> dict[str, Any]:
    """Does the series level off? The middle and last thirds' slopes, and "levels" when
    the last third's is under LEVEL_MB_PER_MIN or under a quarter of the middle's."""
    middle, last = trend(samples, 1 / 3, 2 / 3), trend(samples, 2 / 3, 1.0)
    m, z = middle["slope_mb_per_min"], last["slope_mb_per_min"]
    levels = z < LEVEL_MB_PER_MIN or (m > 0 and z < m / 4)
    return {"middle_third": middle, "last_third": last,
            "verdict": "levels" if levels else "still rising"}


def grew(first: Path, last: Path, minutes: float, top: int = 12) -> list[dict[str, Any]]:
    """The allocation sites (file:line, innermost frame) that gained most traced bytes
    between two snapshots; `via` is the rooms frames nearest the site on the traceback
    that gained most there (what in rooms holds on to it)."""
    a, b = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    by_site: dict[str, list[Any]] = {}  # site -> [bytes, objects, via, bytes of via's trace]
    for stat in b.compare_to(a, "traceback"):
        frames = stat.traceback  # oldest first
        site = f"{frames[-1].filename}:{frames[-1].lineno}"
        entry = by_site.setdefault(site, [0, 0, [], 0])
        entry[0] += stat.size_diff
        entry[1] += stat.count_diff
        if stat.size_diff > entry[3]:
            ours = [f"{_short(f.filename)}:{f.lineno}" for f in frames[:-1]
                    if "/rooms/" in f.filename]
            entry[2], entry[3] = ours[-3:], stat.size_diff
    rows = [{"site": f"{_short(site.rsplit(':', 1)[0])}:{site.rsplit(':', 1)[1]}",
             "bytes": size, "objects": count,
             "mb_per_min": round(size / 2**20 / minutes, 3) if minutes else 0.0, "via": via}
            for site, (size, count, via, _) in by_site.items()]
    return sorted(rows, key=lambda r: -int(r["bytes"]))[:top]


def _short(filename: str) -> str:
    """A source path without its installation prefix (`limits/aio/...`, `rooms/...`)."""
    for marker in ("site-packages/", "/src/", "/lib/python3."):
        if marker in filename:
            tail = filename.split(marker)[-1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." else tail
    return filename


class Soak:
    def __init__(self, base: str, ws: str, pid: int, args: argparse.Namespace,
                 trace_dir: Path | None = None) -> None:
        self.base, self.ws, self.pid, self.args = base, ws, pid, args
        self.trace_dir = trace_dir  # the traced server's folder (snapshots), or None
        self.snapshots: list[tuple[float, Path]] = []  # (seconds into the load, file)
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
                                headers={"X-Rooms-Client-Id": self.kiosk(n)})
            status, code = r.status_code, _code(r)
        except httpx.HTTPError:
            status, code = 0, ""
        self.uploads.add(status, time.perf_counter() - start, code)

    def kiosk(self, n: int) -> str:
        """Upload n's kiosk id: its own, or one of `--kiosks` in turn."""
        return f"soak-kiosk-{n % self.args.kiosks if self.args.kiosks else n:08d}"

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

    async def snapshot(self, at_s: float, started: float) -> None:
        """Ask the traced server for a tracemalloc snapshot `at_s` after `started`."""
        assert self.trace_dir is not None
        await asyncio.sleep(max(0.0, started + at_s - time.monotonic()))
        at_s = time.monotonic() - started
        n = len(self.snapshots)
        os.kill(self.pid, signal.SIGUSR1)
        done = self.trace_dir / f"snapshot-{n}.done"
        for _ in range(1200):  # a big heap takes a while to copy; 2 min at most
            if done.exists():
                self.snapshots.append((at_s, self.trace_dir / f"snapshot-{n}.pickle"))
                return
            await asyncio.sleep(0.1)
        print(f"soak: snapshot {n} did not come", flush=True)

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
        started = time.monotonic()
        async with httpx.AsyncClient(base_url=self.base, timeout=30, limits=limits) as http:
            load = [asyncio.create_task(self.every(self.args.uploads, self.upload, http,
                                                   self.uploads)),
                    asyncio.create_task(self.every(self.args.pool, self.next_, http, self.pool)),
                    asyncio.create_task(self.sample())]
            seconds = self.args.minutes * 60
            if self.trace_dir is not None and self.args.trace:
                for at in (seconds / 3, seconds - 10):  # the last one just before the end
                    await self.snapshot(at, started)
            await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))
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
                "rss_last_half": trend(self.rss), "rss": verdict(self.rss)}

    def traced(self) -> dict[str, Any]:
        """The traced server's own samples (RSS and tracemalloc's total, MB) with their
        verdicts, and what grew between the first and last snapshot."""
        if self.trace_dir is None:
            return {}
        lines = [ln.split() for ln in
                 (self.trace_dir / "samples.txt").read_text().splitlines() if ln.strip()]
        t0 = float(lines[0][0]) if lines else 0.0
        rss = [(float(ln[0]) - t0, int(ln[1]) / 1024) for ln in lines]
        heap = [(float(ln[0]) - t0, int(ln[2]) / 2**20) for ln in lines if int(ln[2]) >= 0]
        anon = [(float(ln[0]) - t0, int(ln[4]) / 1024) for ln in lines]
        out: dict[str, Any] = {"server_rss": verdict(rss),
                               "server_rss_mb_samples": [round(r, 1) for _, r in rss],
                               "server_rss_anon": verdict(anon)}
        if heap:
            out["traced_heap"] = verdict(heap)
            out["traced_heap_mb_samples"] = [round(b, 1) for _, b in heap]
            out["tracemalloc_own_mb_last"] = round(int(lines[-1][3]) / 2**20, 1)
        if len(self.snapshots) >= 2:
            (t_a, a), (t_b, b) = self.snapshots[0], self.snapshots[-1]
            out["grew"] = {"from_s": round(t_a), "to_s": round(t_b),
                           "sites": grew(a, b, (t_b - t_a) / 60)}
        return out


def start_server(root: Path, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.setdefault("VAR_DIR", str(root / "var"))
    env.update({"SECRET_KEY": SECRET, "LOG_LEVEL": "warning",
                "PUBLIC_INGEST_RATE": "100000000/hour", "PUBLIC_INGEST_IP_RATE": "100000000/hour",
                "PYTHONPATH": str(REPO / "src")})
    command = [sys.executable, "-m", "rooms.cli"]
    if args.traced:
        (root / "trace").mkdir()
        env.update({"SOAK_TRACE_DIR": str(root / "trace"), "SOAK_TRACE_FRAMES": str(args.trace),
                    "SOAK_MALLOC_TRIM": "1" if args.malloc_trim else "0"})
        command = [sys.executable, str(TRACED_SERVE)]
    if args.malloc_arena_max:
        env["MALLOC_ARENA_MAX"] = str(args.malloc_arena_max)
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen([*command, "serve", "--port", str(port)],
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
          f"{w['dropped']} dropped; events {w['events_received']} of {w['events_expected']}"
          " (uploads the client gave up on may still be stored: then more arrive)")
    t = report["rss_last_half"]
    print(f"  RSS: {report['rss_mb_samples'][:1]} MB at start; last half {t['first_mb']} -> "
          f"{t['last_mb']} MB (min {t.get('min_mb')}, max {t.get('max_mb')}), "
          f"trend {t['slope_mb_per_min']:+} MB/min")
    series = [("RSS", report["rss"])]
    traced = report.get("traced", {})
    if "server_rss_anon" in traced:
        trimmed = " after malloc_trim(0)" if report["config"]["malloc_trim"] else ""
        series.append((f"RssAnon (server's own samples{trimmed})", traced["server_rss_anon"]))
    if "traced_heap" in traced:
        series.append(("traced heap", traced["traced_heap"]))
        print(f"  (under tracemalloc, whose own {traced['tracemalloc_own_mb_last']} MB and "
              "snapshot copies are in RSS: the traced heap is the figure)")
    for name, v in series:
        m, z = v["middle_third"], v["last_third"]
        print(f"  {name}: middle third {m['first_mb']} -> {m['last_mb']} MB "
              f"({m['slope_mb_per_min']:+} MB/min), last third {z['first_mb']} -> "
              f"{z['last_mb']} MB ({z['slope_mb_per_min']:+} MB/min): {v['verdict']}")
    if "grew" in traced:
        g = traced["grew"]
        print(f"  grew most between {g['from_s']} s and {g['to_s']} s (tracemalloc):")
        for row in g["sites"]:
            via = f" <- {' <- '.join(reversed(row['via']))}" if row["via"] else ""
            print(f"    {row['mb_per_min']:+.3f} MB/min {row['bytes'] / 2**20:+.2f} MB "
                  f"{row['objects']:+} objects  {row['site']}{via}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--uploads", type=float, default=20.0)
    parser.add_argument("--pool", type=float, default=50.0)
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--kiosks", type=int, default=0,
                        help="upload from this many kiosk ids in turn (0: a new id each)")
    parser.add_argument("--trace", type=int, default=0, metavar="FRAMES",
                        help="tracemalloc in the server with this many frames (0: off)")
    parser.add_argument("--malloc-trim", action="store_true",
                        help="the server calls malloc_trim(0) before each RSS sample")
    parser.add_argument("--malloc-arena-max", type=int, default=0, metavar="N",
                        help="MALLOC_ARENA_MAX for the server (0: glibc's default)")
    args = parser.parse_args()
    args.traced = bool(args.trace or args.malloc_trim)
    with tempfile.TemporaryDirectory(prefix="rooms-soak-") as tmp:
        root = Path(tmp)
        port = free_port()
        proc = start_server(root, port, args)
        try:
            soak = Soak(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", proc.pid, args,
                        root / "trace" if args.traced else None)
            report = asyncio.run(soak.run())
            report["traced"] = soak.traced()
            report["config"] = {"kiosks": args.kiosks or "one per upload",
                                "trace_frames": args.trace, "malloc_trim": args.malloc_trim,
                                "malloc_arena_max": args.malloc_arena_max or "default"}
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
