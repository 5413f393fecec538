"""Derivatives benchmark (issue 20): render cost, ingest with renders, p99, drain, RSS.

1. Spectrogram PNG of 60 s of 48 kHz mono, in this process: rooms' render vs scipy's
   `spectrogram` + a matplotlib figure saved as PNG at the same size (6x3 in at 150 dpi, the
   upstream's path); median time and peak traced memory of each.
2. An embedded `rooms serve` (pinned to CPU 0, its render worker inherits that; the load
   generator runs on CPU 1): ROOM ingest rate (closed loop, c=8), pool/next p99 at a paced
   200 req/s while idle, FOSSIL ingest rate (each upload queues a render), pool/next p99
   at the same pace while the renders run, then the drain rate of the render backlog
   (renders/s, counted in the database). Renders run at idle priority, so a saturating
   closed loop would stall them; the paced load leaves them the CPU the API does not use.
3. RSS of a fresh process after 10 and after N renders of a 10 s take (render_all).

    python benchmarks/derivatives.py [--seconds 10] [--renders 1000]

matplotlib is needed for part 1 only (the `dev` extra); rooms never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from benchmarks.ingest import (  # noqa: E402
    BOUNDARY,
    LoadResult,
    closed_loop,
    free_port,
    read_response,
    rss_kib,
    server,
)

from rooms.derivatives import render  # noqa: E402
from rooms.kit.wav import encode_pcm16_wav  # noqa: E402

MIB = 2**20
PACE = 200.0  # pool/next requests/s in the p99 phases: a busy room, not a saturated core


def take(seconds: float, rate: int = 48_000, seed: int = 1) -> np.ndarray:
    """A voice-like test signal: a gliding tone with a syllable rhythm, plus a little noise."""
    t = np.arange(int(seconds * rate)) / rate
    glide = 2 * np.pi * (220 * t + 40 * np.sin(2 * np.pi * 0.3 * t))
    rhythm = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t) ** 2
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return np.asarray((0.3 * rhythm * np.sin(glide) + 0.01 * noise), dtype=np.float32)


def wav(seconds: float) -> bytes:
    return encode_pcm16_wav((take(seconds) * 32767).astype("<i2").tobytes(), 48_000)


def matplotlib_png(x: np.ndarray, rate: int) -> bytes:
    """The upstream's path: scipy spectrogram, pcolormesh on a log axis, savefig."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy import signal

    f, t, sxx = signal.spectrogram(x, fs=rate, nperseg=1024, noverlap=768)
    fig = plt.figure(figsize=(6, 3), dpi=150)
    ax = fig.add_subplot()
    ax.pcolormesh(t, f, 10 * np.log10(sxx + 1e-12), shading="auto")
    ax.set_yscale("log")
    ax.set_ylim(50, min(20_000, rate / 2))
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def measure(fn: Callable[[], bytes], runs: int) -> tuple[float, float]:
    """(median ms, peak traced MiB) of `fn`."""
    fn()  # warm caches and imports
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / MIB


def part_render(rows: list[str]) -> None:
    x = take(60.0)
    ours_ms, ours_mib = measure(lambda: render.render_spectrogram(x, 48_000), 7)
    theirs_ms, theirs_mib = measure(lambda: matplotlib_png(x, 48_000), 3)
    rows += ["| spectrogram of 60 s, 48 kHz | median ms | peak traced MiB |", "|---|---|---|",
             f"| rooms (numpy STFT + LUT + Pillow) | {ours_ms:.0f} | {ours_mib:.0f} |",
             f"| scipy + matplotlib savefig | {theirs_ms:.0f} | {theirs_mib:.0f} |",
             f"| ratio | {theirs_ms / ours_ms:.1f}x faster | |", ""]
    print("\n".join(rows[-6:]), flush=True)


def upload_request(port: int, body_wav: bytes, mode: str, client: str) -> bytes:
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"consent_mode\"\r\n\r\n{mode}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.wav\"\r\n"
        f"Content-Type: audio/wav\r\n\r\n").encode() + body_wav + f"\r\n--{BOUNDARY}--\r\n".encode()
    head = (f"POST /api/v1/artifacts/audio HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"X-Rooms-Client-Id: {client}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


def get_request(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def rendered(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(
            "SELECT count(*) FROM derivative WHERE kind = 'essence_wav'").fetchone()[0])
    finally:
        conn.close()


def fossils(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute(
            "SELECT count(*) FROM artifact WHERE consent_mode = 'FOSSIL'").fetchone()[0])
    finally:
        conn.close()


async def paced(port: int, payload: bytes, rate: float, seconds: float,
                connections: int = 4) -> LoadResult:
    """`rate` requests/s for `seconds`, each sent at its scheduled time (or as soon as a
    connection is free); latency is counted from the scheduled time, so queueing shows."""
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    lat: list[float] = []
    counts = {"ok": 0, "err": 0}

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(k, total, connections):
                due = start + i / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                writer.write(payload)
                await writer.drain()
                status = await read_response(reader)
                counts["ok" if status == 200 else "err"] += 1
                lat.append((time.perf_counter() - due) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(worker(k) for k in range(connections)))
    return LoadResult(counts["ok"], counts["err"], seconds, lat)


def line(name: str, r: LoadResult) -> str:
    return (f"| {name} | {r.rate:.1f} | {r.pct(0.5):.1f} | {r.pct(0.99):.1f} | "
            f"{r.errors} |")


async def part_server(rows: list[str], seconds: float, take_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="rooms-bench-deriv-") as tmp:
        var = Path(tmp)
        port = free_port()
        env = {"VAR_DIR": str(var), "PUBLIC_INGEST_RATE": "100000000/hour",
               "PUBLIC_INGEST_IP_RATE": "100000000/hour", "LOG_LEVEL": "warning",
               "JOB_QUEUE_SIZE": "100000", "PYTHONPATH": f"{REPO / 'src'}:{REPO}"}
        cmd = [sys.executable, "-c", "from rooms.cli import main; main()", "serve", "--port",
               str(port)]
        body = wav(take_s)
        with server(cmd, env, port):
            await closed_loop(port, upload_request(port, body, "ROOM", "bench-0"), 8, 0, 3)
            room = await closed_loop(port, upload_request(port, body, "ROOM", "bench-1"), 8, 1,
                                     seconds)
            nxt = get_request(port, "/api/v1/pool/next")
            idle = await paced(port, nxt, PACE, seconds)
            fossil = await closed_loop(port, upload_request(port, body, "FOSSIL", "bench-2"),
                                       8, 1, seconds)
            db = var / "rooms.db"
            before = rendered(db)
            busy = await paced(port, nxt, PACE, seconds)
            during = rendered(db) - before
            total = fossils(db)
            t0, start = time.perf_counter(), rendered(db)
            while (done := rendered(db)) < total and time.perf_counter() - t0 < 600:
                await asyncio.sleep(0.5)
            drain_s = time.perf_counter() - t0
            status = await _status_line(port)
        rows += [f"embedded server, {take_s:.0f} s takes, {seconds:.0f} s per phase:", "",
                 "| phase | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|",
                 line("ROOM ingest, c=8", room),
                 line(f"pool/next at {PACE:.0f}/s, idle", idle),
                 line("FOSSIL ingest, c=8 (renders queued)", fossil),
                 line(f"pool/next at {PACE:.0f}/s while rendering ({during} renders meanwhile)",
                      busy), "",
                 f"- FOSSIL / ROOM ingest rate: {fossil.rate / room.rate:.2f}",
                 f"- pool/next p99 rendering / idle: {busy.pct(0.99) / idle.pct(0.99):.2f}",
                 f"- backlog drain: {done - start} renders in {drain_s:.1f} s = "
                 f"{(done - start) / drain_s:.1f} renders/s ({done}/{total} rendered; "
                 f"health {status})", ""]
        print("\n".join(rows[-11:]), flush=True)


async def _status_line(port: int) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(get_request(port, "/healthz"))
    await writer.drain()
    status = await read_response(reader)
    writer.close()
    return status


def part_rss(rows: list[str], renders: int) -> None:
    data = wav(10.0)
    for _ in range(10):
        render.render_all(data)
    after_10 = rss_kib(os.getpid())
    t0 = time.perf_counter()
    for i in range(renders - 10):
        render.render_all(data, seed=i)
    spent = time.perf_counter() - t0
    after_n = rss_kib(os.getpid())
    rows += [f"- RSS after 10 renders {after_10 / 1024:.0f} MiB, after {renders}: "
             f"{after_n / 1024:.0f} MiB (growth {(after_n - after_10) / 1024:.1f} MiB); "
             f"{(renders - 10) / spent:.1f} renders/s of a 10 s take in one process"]
    print(rows[-1], flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--take-seconds", type=float, default=10)
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--skip-server", action="store_true")
    parser.add_argument("--rss-only", action="store_true")
    args = parser.parse_args()
    if args.rss_only:
        part_rss([], args.renders)
        return
    with_cpu1 = hasattr(os, "sched_setaffinity")
    if with_cpu1:
        try:
            os.sched_setaffinity(0, {1})
        except OSError:
            with_cpu1 = False
    rows: list[str] = []
    part_render(rows)
    if not args.skip_server:
        await part_server(rows, args.seconds, args.take_seconds)
    # in a fresh process: this one holds matplotlib's and part 1's memory
    out = subprocess.run([sys.executable, __file__, "--rss-only", "--renders",
                          str(args.renders)], capture_output=True, text=True, check=True)
    rows.append(out.stdout.strip().splitlines()[-1])
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
