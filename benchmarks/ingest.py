"""Ingest benchmark: uploads/s, p50/p99 latency, and peak RSS while big uploads stream in.

Starts each server itself on loopback, pinned to CPU 0 (`taskset`), and drives it from this
process pinned to CPU 1, closed loop, with a raw HTTP/1.1 keep-alive client (so the load
generator is not the bottleneck). Servers: rooms embedded (SQLite + files + in-process jobs),
rooms on PostgreSQL + S3 (+ Redis) when those can be started, and the bare Starlette ceiling
of PEERS.md, all in the same run. The ingest budget is lifted for the run (it would 429).

    .venv/bin/python benchmarks/ingest.py [--seconds 20] [--warmup 2] [--skip-services]
        [--mode ROOM FOSSIL] [--loop-lag] [--archive N ...] [--repeat N]

Each rooms row also reports the server process's CPU time per upload (user + system of
the `rooms serve` process from /proc, renders excluded: they run in child processes), much
less sensitive to a busy machine than uploads/s. `--mode FOSSIL` runs the same load with
FOSSIL takes (each queues a render). `--loop-lag` reads the server's
`rooms_event_loop_lag_seconds` histogram (a task that sleeps 50 ms and records how late it
woke) before and after each run and prints the share of late wake-ups and the ~p99:
blocking work on the event loop shows as a long tail. `--repeat N` is the paired mode
the README's ratios come from: both servers stay up and each repetition runs a window of
each, rotating which goes first, with the ratios taken within the repetition; with
`--archive SIZE` a third server holds SIZE takes and is compared with the empty one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rooms.kit.wav import encode_pcm16_wav  # noqa: E402

BOUNDARY = "roomsbenchboundary"
PATH = "/api/v1/artifacts/audio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wav_bytes(seconds: float, rate: int) -> bytes:
    n = int(seconds * rate)
    pcm = bytes((i * 7) & 0xFF for i in range(4096)) * (n * 2 // 4096 + 1)
    return encode_pcm16_wav(pcm[: n * 2], rate)


def request_bytes(port: int, wav: bytes, client_id: str, mode: str = "ROOM") -> bytes:
    body = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"consent_mode\"\r\n\r\n{mode}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.wav\"\r\n"
        f"Content-Type: audio/wav\r\n\r\n"
    ).encode() + wav + f"\r\n--{BOUNDARY}--\r\n".encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"X-Rooms-Client-Id: {client_id}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


FIRST_ERRORS: dict[int, bytes] = {}  # status -> the first such answer's body, for the report


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one answer; returns its status (the body of the first answer of each status
    >= 400 is kept in FIRST_ERRORS)."""
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    data = await reader.readexactly(length)
    if status >= 400:
        FIRST_ERRORS.setdefault(status, data[:300])
    return status


@dataclass
class LoadResult:
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, int(q * len(data)))] if data else float("nan")


async def closed_loop(port: int, payload: bytes, concurrency: int, warmup: float,
                      seconds: float, ok_status: int = 201) -> LoadResult:
    """`concurrency` keep-alive clients sending `payload` back to back; answers other than
    `ok_status` count as errors. Only what starts after `warmup` is measured."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    lat: list[float] = []
    counts: dict[str | int, int] = {"ok": 0, "err": 0}

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (now := time.perf_counter()) < stop_at:
                writer.write(payload)
                await writer.drain()
                status = await read_response(reader)
                done = time.perf_counter()
                if now >= measure_from:
                    counts["ok" if status == ok_status else "err"] += 1
                    if status != ok_status:
                        counts[status] = counts.get(status, 0) + 1
                    if status == ok_status:
                        lat.append((done - now) * 1000)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if counts["err"]:
        print("  answers other than", ok_status, {k: v for k, v in counts.items()
                                                   if isinstance(k, int)},
              "first bodies:", FIRST_ERRORS, flush=True)
    return LoadResult(counts["ok"], counts["err"], seconds, lat)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads, not its children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def lag_buckets(port: int) -> dict[float, float]:
    """The server's loop-lag histogram: {upper bound in s: cumulative count}."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        text = (await reader.read()).decode()
    finally:
        writer.close()
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("rooms_event_loop_lag_seconds_bucket{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return out


def lag_report(before: dict[float, float], after: dict[float, float]) -> str:
    """Late wake-ups during a run: share over 5 ms and 25 ms, and the bucket holding p99."""
    delta = {b: after.get(b, 0.0) - before.get(b, 0.0) for b in sorted(after)}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return "loop lag: no samples"
    over = {ms: 1 - delta.get(ms / 1000, 0.0) / total for ms in (5, 25)}
    p99 = next(b for b in sorted(delta) if delta[b] >= 0.99 * total)
    return (f"loop lag: {total:.0f} wake-ups, {100 * over[5]:.1f}% > 5 ms, "
            f"{100 * over[25]:.1f}% > 25 ms, p99 <= {p99 * 1000:g} ms")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tree_rss_kib(pid: int) -> int:
    """RSS of the server and its children (`rooms serve` runs uvicorn in-process)."""
    total = rss_kib(pid)
    with contextlib.suppress(FileNotFoundError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += tree_rss_kib(int(child))
    return total


async def peak_rss_during(pid: int, port: int, payload: bytes, clients: int) -> tuple[int, int]:
    base = tree_rss_kib(pid)
    peak = base
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(pid))
            await asyncio.sleep(0.02)

    async def one() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in range(0, len(payload), 1 << 20):  # like a real client on a LAN
                writer.write(payload[i:i + (1 << 20)])
                await writer.drain()
            return await read_response(reader)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    sampler = asyncio.create_task(sample())
    statuses = await asyncio.gather(*(one() for _ in range(clients)))
    done.set()
    await sampler
    assert all(s == 201 for s in statuses), statuses
    return base, peak


@contextlib.contextmanager
def server(cmd: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    taskset = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    # the server's log goes to a file: a pipe nobody reads fills up and stalls the server
    # on its next log line (a warning per upload once a job queue is full, for instance)
    log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen([*taskset, *cmd], env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode()[-2000:])
            time.sleep(0.1)
        yield proc.pid
    finally:
        log.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def seed_archive(var_dir: Path, count: int) -> None:
    """Migrate a fresh embedded instance and give it `count` ACTIVE takes (rows only)."""
    env = {**os.environ, **bench_env(var_dir)}
    subprocess.run([str(REPO / ".venv/bin/rooms"), "migrate"], env=env, check=True)
    import sqlite3

    db = sqlite3.connect(var_dir / "rooms.db")
    now = "2026-11-23 00:00:00.000000"
    db.executemany("INSERT INTO consent_manifest (id, created_at, json, revocation_token_hash)"
                   " VALUES (?, ?, '{}', ?)", ((i, now, f"{i:064x}") for i in range(1, count + 1)))
    db.executemany(
        "INSERT INTO artifact (id, kind, consent_id, created_at, status, consent_mode, raw_uri,"
        " raw_sha256, duration_ms, sample_rate, effect_profile, effect_metadata,"
        " deployment_kind, topic_tag, lifecycle_status, wear, play_count, expires_at)"
        " VALUES (?, 'audio_snippet', ?, ?, 'ACTIVE', 'ROOM', ?, '', 10000, 48000, 'clear',"
        " '{}', 'memory', '', '', 0.0, 0, '2027-01-01 00:00:00.000000')",
        ((i, i, now, f"raw/{i:020x}/audio.wav") for i in range(1, count + 1)))
    db.commit()
    db.close()


def rooms_cmd(port: int) -> list[str]:
    return [str(REPO / ".venv/bin/rooms"), "serve", "--port", str(port)]


def bench_env(var_dir: Path) -> dict[str, str]:
    return {"VAR_DIR": str(var_dir), "PUBLIC_INGEST_RATE": "100000000/hour",
            "PUBLIC_INGEST_IP_RATE": "100000000/hour", "LOG_LEVEL": "warning"}


async def run_target(name: str, cmd_env: tuple[list[str], dict[str, str]], port: int,
                     args: argparse.Namespace, rows: list[str], *, rss: bool) -> None:
    small = wav_bytes(10, 48_000)
    cmd, env = cmd_env
    rooms = "rooms" in name
    with server(cmd, env, port) as pid:
        for mode in (args.mode if rooms else ["ROOM"]):
            payload = request_bytes(port, small, "bench-kiosk-0001", mode)
            label = f"{name}, {mode}" if rooms and args.mode != ["ROOM"] else name
            for c in args.concurrency:
                lag = await lag_buckets(port) if rooms and args.loop_lag else {}
                # CPU over the measured part only: the warm-up runs first, on its own
                await closed_loop(port, payload, c, 0, args.warmup)
                cpu = cpu_seconds(pid)
                result = await closed_loop(port, payload, c, 0, args.seconds)
                per = 1000 * (cpu_seconds(pid) - cpu) / max(1, result.ok + result.errors)
                rows.append(f"| {label} | {c} | {result.rate:.1f} | {result.pct(0.5):.1f} | "
                            f"{result.pct(0.99):.1f} | {result.errors} | {per:.2f} |")
                print(rows[-1], flush=True)
                if lag:
                    print(f"  {label} c={c} {lag_report(lag, await lag_buckets(port))}",
                          flush=True)
        if rss:
            big = request_bytes(port, wav_bytes(170, 96_000), "bench-kiosk-0002")
            base, peak = await peak_rss_during(pid, port, big, 8)
            rows.append(f"| {name}: 8 x {len(big) / 2**20:.0f} MiB uploads at once | RSS "
                        f"{base / 1024:.0f} → {peak / 1024:.0f} MiB | growth "
                        f"{(peak - base) / 1024:.1f} MiB | | | | |")
            print(rows[-1], flush=True)


async def window(port: int, pid: int, payload: bytes, c: int,
                 args: argparse.Namespace) -> tuple[LoadResult, float]:
    """One measured window after its own warm-up: the load, and server CPU ms per upload."""
    await closed_loop(port, payload, c, 0, args.warmup)
    cpu = cpu_seconds(pid)
    result = await closed_loop(port, payload, c, 0, args.seconds)
    return result, 1000 * (cpu_seconds(pid) - cpu) / max(1, result.ok + result.errors)


def prune_uploads(root: Path) -> None:
    """Delete what the windows uploaded (the ceiling's files, rooms' raw blobs): ten
    repetitions store ~40 GB otherwise, and a full disk ends the run. The rows stay; the
    loudness jobs of takes whose audio went find nothing to measure."""
    for path in [*root.glob("ceiling/*.wav"), *root.glob("*/blobs/raw/**/*.wav")]:
        path.unlink(missing_ok=True)


async def paired(args: argparse.Namespace, root: Path) -> None:
    """`--repeat N`: the ceiling and rooms embedded (and, with `--archive SIZE`, rooms on an
    archive of SIZE takes) all stay up; each repetition runs one window of each at every
    concurrency, in rotating order, and the ratios are taken within the repetition (a disk
    or a neighbour that slows down for a minute slows them all). Prints every window and
    then the median and range of the ratios."""
    small = wav_bytes(10, 48_000)
    ports = {"ceiling": free_port(), "rooms": free_port()}
    cmds: dict[str, tuple[list[str], dict[str, str]]] = {
        "ceiling": ([str(REPO / ".venv/bin/uvicorn"), "benchmarks.ceiling_app:app", "--port",
                     str(ports["ceiling"]), "--log-level", "warning", "--no-access-log"],
                    {"CEILING_DIR": str(root / "ceiling"), "PYTHONPATH": str(REPO)}),
        "rooms": (rooms_cmd(ports["rooms"]), bench_env(root / "embedded"))}
    for size in args.archive:
        name = f"rooms@{size}"
        var = root / f"archive-{size}"
        seed_archive(var, size)
        ports[name] = free_port()
        cmds[name] = (rooms_cmd(ports[name]), bench_env(var))
    names = list(cmds)
    # (rep, c) -> name -> (uploads/s, CPU ms per upload, p99 ms, errors)
    got: dict[int, list[dict[str, tuple[float, float, float, int]]]] = {
        c: [] for c in args.concurrency}
    print("| rep | concurrency | server | uploads/s | CPU ms/upload | p99 ms | errors |")
    print("|---|---|---|---|---|---|---|")
    with contextlib.ExitStack() as stack:
        pids = {name: stack.enter_context(server(*cmds[name], ports[name])) for name in names}
        for rep in range(args.repeat):
            for c in args.concurrency:
                one: dict[str, tuple[float, float, float, int]] = {}
                for name in names[rep % len(names):] + names[:rep % len(names)]:
                    payload = request_bytes(ports[name], small, "bench-kiosk-0001")
                    result, cpu = await window(ports[name], pids[name], payload, c, args)
                    prune_uploads(root)
                    one[name] = (result.rate, cpu, result.pct(0.99), result.errors)
                    print(f"| {rep + 1} | {c} | {name} | {result.rate:.1f} | {cpu:.2f} | "
                          f"{result.pct(0.99):.1f} | {result.errors} |", flush=True)
                got[c].append(one)
    print("\n| concurrency | repetitions | ratio | uploads/s, median [range] "
          "| CPU per upload, median [range] |")
    print("|---|---|---|---|---|")
    pairs = [("rooms", "ceiling")] + [(f"rooms@{size}", "rooms") for size in args.archive]
    for c, reps in got.items():
        for a, b in pairs:
            rate = sorted(r[a][0] / r[b][0] for r in reps)
            cpu = sorted(r[a][1] / r[b][1] for r in reps)
            print(f"| {c} | {len(reps)} | {a} / {b} | {statistics.median(rate):.2f} "
                  f"[{rate[0]:.2f} to {rate[-1]:.2f}] | {statistics.median(cpu):.2f} "
                  f"[{cpu[0]:.2f} to {cpu[-1]:.2f}] |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--skip-services", action="store_true")
    parser.add_argument("--mode", nargs="+", default=["ROOM"], choices=["ROOM", "FOSSIL"],
                        help="consent mode(s) of the uploads (FOSSIL queues a render each)")
    parser.add_argument("--loop-lag", action="store_true",
                        help="report the server's event-loop lag during each run")
    parser.add_argument("--archive", type=int, nargs="*", default=[],
                        help="also run embedded c=8 on archives of these sizes (e.g. 1000 100000)")
    parser.add_argument("--repeat", type=int, default=0,
                        help="paired mode: N interleaved repetitions of the ceiling and rooms "
                             "embedded (ROOM takes), with the median ratio")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    if args.repeat:
        with tempfile.TemporaryDirectory(prefix="rooms-bench-") as tmp:
            await paired(args, Path(tmp))
        return
    rows = ["| server | concurrency | uploads/s | p50 ms | p99 ms | errors "
            "| server CPU ms/upload |",
            "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="rooms-bench-") as tmp:
        root = Path(tmp)
        port = free_port()
        ceiling = ([str(REPO / ".venv/bin/uvicorn"), "benchmarks.ceiling_app:app", "--port",
                    str(port), "--log-level", "warning", "--no-access-log"],
                   {"CEILING_DIR": str(root / "ceiling"), "PYTHONPATH": str(REPO)})
        await run_target("bare Starlette ceiling", ceiling, port, args, rows, rss=False)
        port = free_port()
        await run_target("rooms embedded", (rooms_cmd(port), bench_env(root / "embedded")),
                         port, args, rows, rss=True)
        for size in args.archive:
            var = root / f"archive-{size}"
            seed_archive(var, size)
            port = free_port()
            sized = argparse.Namespace(**{**vars(args), "concurrency": [8]})
            await run_target(f"rooms embedded, {size:,} takes in the archive",
                             (rooms_cmd(port), bench_env(var)), port, sized, rows, rss=False)
        if not args.skip_services:
            from tests.services import services_available, start_services

            ok, reason = services_available()
            if not ok:
                print(f"services run skipped: {reason}")
            else:
                svc = start_services(root / "services")
                try:
                    url = await svc.postgres.create_database("bench")
                    env = {**bench_env(root / "svc-var"), "DATABASE_URL": url,
                           "REDIS_URL": svc.redis.url, "BLOB_STORE_URL": "s3://bench",
                           "S3_ENDPOINT_URL": svc.s3.endpoint_url,
                           "S3_ACCESS_KEY": svc.s3.access_key,
                           "S3_SECRET_KEY": svc.s3.secret_key, "SECRET_KEY": "x" * 40,
                           "OPS_SHARED_SECRET": "y" * 24}
                    port = free_port()
                    await run_target("rooms PostgreSQL + S3", (rooms_cmd(port), env), port,
                                     args, rows, rss=True)
                finally:
                    svc.stop()
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
