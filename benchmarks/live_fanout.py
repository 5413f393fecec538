"""Live fan-out benchmark: delivered messages/s, delivery latency and RSS per connection.

For each server (rooms, then the bare `websockets` baseline) and each N in 100, 1,000 and
5,000, a fresh server process is started pinned to CPU 0 (benchmarks/live_server.py); this
process, pinned to CPU 1, opens N websocket clients subscribed to one topic and has the
server publish M events/s of ~300-byte JSON. Latency is publish timestamp (in the event) to
receipt; delivered/s is the events received over the time from the first event's publish
to the last receipt. The clients are raw asyncio protocols on uvloop (a small frame parser; they
answer pings), so the load generator costs less per message than either server.

    .venv/bin/python benchmarks/live_fanout.py [--quick] [--only rooms|bare] [--n 5000 ...]
                                              [--repeat 5] [--seconds 6]

`--repeat N` runs the servers interleaved (rooms, bare, rooms, bare, ... for each N) and
adds a paired summary: for each load, the median and range over the repetitions of
rooms/bare delivered msgs/s, p99 and server CPU time per delivered message, each ratio
taken within one repetition (so a machine that slows down for a while hurts both sides of a
ratio alike), and the median RSS per idle connection of each server.

Tokens for rooms are minted here with the server's SECRET_KEY (the same code as POST
/api/v1/live/token, without 5,000 HTTP round trips). Everything is on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import uvloop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rooms.live.tokens import LiveTokens  # noqa: E402

SECRET = secrets.token_urlsafe(32)
PAD = 250  # bytes of filler: with topic, seq and ts an event is ~300 bytes of JSON
SUBSCRIBE = b'{"op":"subscribe","topics":["stage"]}'


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame (payload < 126 bytes is all we send)."""
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


@dataclass
class Stats:
    received: int = 0
    lagged: int = 0
    first_ts: float = float("inf")  # publish time of the earliest event received
    last_at: float = 0.0  # time of the latest receipt
    latencies: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.received = self.lagged = 0
        self.first_ts, self.last_at = float("inf"), 0.0
        self.latencies = []


class Client(asyncio.Protocol):
    """Handshake, subscribe, then count events and note their latency."""

    def __init__(self, path: str, stats: Stats, ready: asyncio.Future[None]) -> None:
        self.path, self.stats, self.ready = path, stats, ready
        self.buf = bytearray()
        self.open = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        writer = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = writer
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      ).encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before subscribing"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[:end].split(b"\r\n", 1)[0]:
                raise ConnectionError(bytes(buf[:80]))
            del buf[:end + 4]
            self.open = True
            assert self.transport is not None
            self.transport.write(frame(SUBSCRIBE))
        now = time.time()
        stats = self.stats
        i, size = 0, len(buf)
        while size - i >= 2:
            n = buf[i + 1] & 0x7F
            head = 2
            if n == 126:
                if size - i < 4:
                    break
                n = int.from_bytes(buf[i + 2:i + 4], "big")
                head = 4
            elif n == 127:
                if size - i < 10:
                    break
                n = int.from_bytes(buf[i + 2:i + 10], "big")
                head = 10
            if size - i < head + n:
                break
            opcode = buf[i] & 0x0F
            start = i + head
            i = start + n
            if opcode == 1:
                at = buf.find(b'"ts":', start, i)
                if at >= 0:
                    ts = float(buf[at + 5:buf.find(b",", at, i)])
                    stats.first_ts = min(stats.first_ts, ts)
                    stats.latencies.append(now - ts)
                    stats.received += 1
                    stats.last_at = now
                elif buf.find(b'"lagged"', start, i) >= 0:
                    stats.lagged += 1
                elif not self.ready.done():
                    self.ready.set_result(None)
            elif opcode == 9 and self.transport is not None:  # ping -> pong
                self.transport.write(frame(bytes(buf[start:i]), 0xA))
        del buf[:i]


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:", 1)[1].split()[0])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (ours, when pid is our own)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, kind: str, port: int) -> None:
        pin = ["taskset", "-c", "0"] if PINNED else []
        self.proc = subprocess.Popen(
            [*pin, sys.executable, str(REPO / "benchmarks" / "live_server.py"), kind, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "SECRET_KEY": SECRET}, text=True)
        self.kind, self.port = kind, port
        assert self.line() == "READY"

    def line(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        self.command("QUIT")
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def connect_all(server: Server, n: int, stats: Stats) -> list[asyncio.Transport]:
    loop = asyncio.get_running_loop()
    tokens = LiveTokens(secret=SECRET, ttl_s=300)
    gate = asyncio.Semaphore(200)
    transports: list[asyncio.Transport] = []

    async def one() -> None:
        async with gate:
            path = f"/ws/live?token={tokens.mint('live')}" if server.kind == "rooms" else "/"
            ready: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: Client(path, stats, ready), "127.0.0.1", server.port)
            transports.append(transport)
            await asyncio.wait_for(ready, 30)

    await asyncio.gather(*(one() for _ in range(n)))
    return transports


@dataclass
class Row:
    server: str
    rep: int
    n: int
    rate: float
    delivered_per_s: float
    expected_per_s: float
    p50_ms: float
    p99_ms: float
    rss_kb_per_conn: float
    server_cpu: float
    load_cpu: float
    lagged: int
    cpu_us_per_msg: float  # server CPU time per delivered message


async def run_load(server: Server, stats: Stats, n: int, rate: float, seconds: float,
                   rss_per_conn: float, rep: int = 0) -> Row:
    loop = asyncio.get_running_loop()
    stats.reset()
    cpu0, own0, t0 = cpu_s(server.proc.pid), cpu_s(os.getpid()), time.time()
    server.command(f"PUBLISH {rate} {seconds} {PAD}")
    published = int((await loop.run_in_executor(None, server.line)).split()[1])
    expected = published * n
    deadline = time.time() + 10  # a saturated server may still be draining its queues
    while stats.received < expected and time.time() < deadline:
        if stats.last_at and time.time() - stats.last_at > 1.0:
            break  # quiet for a second: the rest was dropped (lagged)
        await asyncio.sleep(0.05)
    # From the first publish to the last receipt, plus the one publish interval that each
    # event stands for (so a server that keeps up delivers exactly the offered rate).
    span = stats.last_at - stats.first_ts + 1 / rate if stats.received else seconds
    busy = max(stats.last_at - t0, 1e-3)  # CPU shares: from the command to the last receipt
    lat = np.array(stats.latencies) * 1000 if stats.latencies else np.zeros(1)
    return Row(server.kind, rep, n, rate, stats.received / span, expected / seconds,
               float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), rss_per_conn,
               (cpu_s(server.proc.pid) - cpu0) / busy, (cpu_s(os.getpid()) - own0) / busy,
               stats.lagged, (cpu_s(server.proc.pid) - cpu0) / max(stats.received, 1) * 1e6)


async def bench(kind: str, n: int, loads: list[tuple[float, float]], rep: int = 0) -> list[Row]:
    """A fresh server for N clients (so RSS per connection is not flattered by reuse)."""
    rows: list[Row] = []
    server = Server(kind, free_port())
    stats = Stats()
    try:
        await asyncio.sleep(0.5)
        before = rss_kb(server.proc.pid)
        started = time.time()
        transports = await connect_all(server, n, stats)
        opened_s = time.time() - started
        await asyncio.sleep(0.5)
        per_conn = (rss_kb(server.proc.pid) - before) / n
        print(f"{kind}: {n:,} clients connected in {opened_s:.1f} s", file=sys.stderr)
        for rate, seconds in loads:
            row = await run_load(server, stats, n, rate, seconds, per_conn, rep)
            print(f"  {rate:g} events/s: {row.delivered_per_s:,.0f} msgs/s, "
                  f"p99 {row.p99_ms:.0f} ms", file=sys.stderr)
            rows.append(row)
        for transport in transports:
            transport.close()
    finally:
        server.stop()
    return rows


def table(rows: list[Row]) -> str:
    bare = {(r.rep, r.n, r.rate): r.delivered_per_s for r in rows if r.server == "bare"}
    reps = len({r.rep for r in rows}) > 1
    out = ["| server |" + (" rep |" if reps else "") + " clients | events/s | offered msgs/s "
           "| delivered msgs/s | vs bare | p50 ms | p99 ms | RSS/conn KiB | server CPU "
           "| server CPU µs/msg | load CPU | lagged notices |",
           "|---|" + ("---:|" if reps else "") + "---:|---:|---:|---:|---:|---:|---:|---:|---:"
           "|---:|---:|---:|"]
    for r in rows:
        key = (r.rep, r.n, r.rate)
        ratio = r.delivered_per_s / bare[key] if key in bare else 0.0
        out.append(f"| {r.server} |" + (f" {r.rep + 1} |" if reps else "")
                   + f" {r.n:,} | {r.rate:g} | {r.expected_per_s:,.0f} "
                   f"| {r.delivered_per_s:,.0f} | {ratio:.2f} | {r.p50_ms:.1f} "
                   f"| {r.p99_ms:.1f} | {r.rss_kb_per_conn:.1f} | {r.server_cpu:.0%} "
                   f"| {r.cpu_us_per_msg:.1f} | {r.load_cpu:.0%} | {r.lagged:,} |")
    return "\n".join(out)


def _spread(values: list[float], digits: int = 2) -> str:
    """`median [min-max]` of paired values (just the value when there is one)."""
    med = f"{statistics.median(values):.{digits}f}"
    if len(values) < 2:
        return med
    return f"{med} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def paired(rows: list[Row]) -> str:
    """Per load: rooms/bare ratios taken within each repetition, then their median and range."""
    by = {(r.server, r.rep, r.n, r.rate): r for r in rows}
    loads = sorted({(r.n, r.rate) for r in rows})
    out = ["| clients | events/s | reps | delivered rooms/bare | p99 rooms/bare "
           "| CPU/msg rooms/bare | rooms p99 ms | bare p99 ms | RSS/conn KiB rooms | bare |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for n, rate in loads:
        pairs = [(by[("rooms", rep, n, rate)], by[("bare", rep, n, rate)])
                 for rep in sorted({r.rep for r in rows})
                 if ("rooms", rep, n, rate) in by and ("bare", rep, n, rate) in by]
        if not pairs:
            continue
        out.append(
            f"| {n:,} | {rate:g} | {len(pairs)} "
            f"| {_spread([a.delivered_per_s / b.delivered_per_s for a, b in pairs])} "
            f"| {_spread([a.p99_ms / max(b.p99_ms, 1e-3) for a, b in pairs])} "
            f"| {_spread([a.cpu_us_per_msg / max(b.cpu_us_per_msg, 1e-3) for a, b in pairs])} "
            f"| {_spread([a.p99_ms for a, _ in pairs], 0)} "
            f"| {_spread([b.p99_ms for _, b in pairs], 0)} "
            f"| {_spread([a.rss_kb_per_conn for a, _ in pairs], 1)} "
            f"| {_spread([b.rss_kb_per_conn for _, b in pairs], 1)} |")
    return "\n".join(out)


PINNED = (os.cpu_count() or 1) >= 2 and sys.platform.startswith("linux")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--seconds", type=float,
                        help="seconds per load (default 6, or 3 with --quick)")
    parser.add_argument("--only", choices=["rooms", "bare"])
    parser.add_argument("--n", type=int, action="append", choices=[100, 1000, 5000],
                        help="run only these client counts (repeatable)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="interleaved repetitions (rooms, bare, rooms, bare, ...) per N")
    args = parser.parse_args()
    if PINNED:
        os.sched_setaffinity(0, {1})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 1 << 16)), hard))
    s = args.seconds or (3.0 if args.quick else 6.0)
    plan = [(100, [(100.0, s)]),
            (1000, [(100.0, s), (200.0, s)]),  # 200/s offers more than either can send
            (5000, [(1.0, 2.5 * s), (20.0, s)])]
    if args.n:
        plan = [(n, loads) for n, loads in plan if n in args.n]
    kinds = [args.only] if args.only else ["rooms", "bare"]
    rows: list[Row] = []
    for n, loads in plan:  # rooms and bare side by side, one N at a time
        for rep in range(max(1, args.repeat)):
            for kind in kinds:
                rows += uvloop.run(bench(kind, n, loads, rep))
    print(table(rows))
    if len(kinds) == 2:
        print()
        print(paired(rows))


if __name__ == "__main__":
    main()
