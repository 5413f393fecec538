"""pool/next benchmark: req/s and p50/p99 of GET /api/v1/pool/next as the archive grows.

Seeds embedded instances with 0 / 1,000 / 100,000 ACTIVE takes straight into SQLite (rows
only: pool/next never opens the audio), with varied wear, play counts, ages, durations and
last plays, so the pool's batches and weights do real work. Each server is `rooms serve`
pinned to CPU 0; this process drives it from CPU 1, closed loop, raw HTTP/1.1 keep-alive
(the same client as benchmarks/ingest.py).

    .venv/bin/python benchmarks/pool_next.py [--archive 0 1000 100000] [--seconds 15]
        [--rounds 3] [--deployment memory question repair] [--composition] [--cycle]

`--deployment` serves each archive size once per ENGINE_DEPLOYMENT, all servers up at the
same time (the takes seeded with that `deployment_kind`, varied topics and lifecycle
statuses, so the preferred batches do real work), and measures them in interleaved rounds,
so that load from elsewhere on a shared machine falls on every deployment alike. Each
route's p99 is printed beside the first deployment's (memory: issue 22 asks for a non-memory
deployment within 1.5x, in the same run, at 100,000 takes). `--composition` also times
GET /api/v1/room/composition on every deployment's server. `--cycle` measures what a room
does per take instead: GET pool/next, then POST its `playback_ack_url`, at 1 client and at
`--concurrency`, in interleaved rounds (p99 of the whole cycle, and of the ack alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ingest import (  # noqa: E402
    LoadResult,
    bench_env,
    closed_loop,
    free_port,
    rooms_cmd,
    server,
)

PATH = "/api/v1/pool/next"
GOAL = 1.5  # issue 22: a deployment's p99 within 1.5x memory's, in the same run
STAMP = "%Y-%m-%d %H:%M:%S.%f"


STATUSES = {"memory": ("", "open", "resolved"), "question": ("", "open", "pending", "answered"),
            "prompt": ("", "seed", "echo", "spent"), "repair": ("", "pending", "needs_part",
                                                                "fixed"),
            "witness": ("", "observed", "verified"), "oracle": ("", "held", "spent")}
TOPICS = ("", "", "bridge", "hinge", "river")


def seed(db_path: Path, count: int, *, rng_seed: int = 1, kind: str = "memory") -> None:
    """`count` ACTIVE takes with varied pool state, already measured (loudness), in one
    transaction."""
    rng = random.Random(rng_seed)
    now = datetime.now(UTC).replace(tzinfo=None)
    expires = (now + timedelta(days=30)).strftime(STAMP)
    db = sqlite3.connect(db_path)
    db.executemany("INSERT INTO consent_manifest (id, created_at, json, revocation_token_hash)"
                   " VALUES (?, ?, '{}', ?)",
                   ((i, now.strftime(STAMP), f"{i:064x}") for i in range(1, count + 1)))

    def row(i: int) -> tuple[object, ...]:
        created = now - timedelta(hours=rng.uniform(0, 400))
        plays = rng.choice((0, 0, 0, 1, 2, 3, 5, 8, 13))
        heard = (None if plays == 0 else
                 (now - timedelta(seconds=rng.uniform(0, (now - created).total_seconds())))
                 .strftime(STAMP))
        return (i, i, created.strftime(STAMP), f"raw/{i:020x}/audio.wav",
                rng.randint(1000, 60_000), kind, rng.choice(TOPICS),
                rng.choice(STATUSES[kind]), min(1.0, plays * 0.005), plays, heard, expires,
                round(rng.uniform(-40.0, -15.0), 2))

    db.executemany(
        "INSERT INTO artifact (id, kind, consent_id, created_at, status, consent_mode, raw_uri,"
        " raw_sha256, duration_ms, sample_rate, effect_profile, effect_metadata,"
        " deployment_kind, topic_tag, lifecycle_status, wear, play_count, last_access_at,"
        " expires_at, loudness_lufs) VALUES (?, 'audio_snippet', ?, ?, 'ACTIVE', 'ROOM', ?, '',"
        " ?, 48000, 'clear', '{}', ?, ?, ?, ?, ?, ?, ?, ?)",
        (row(i) for i in range(1, count + 1)))
    db.commit()
    db.close()


def migrate(var_dir: Path) -> Path:
    env = {**os.environ, **bench_env(var_dir)}
    subprocess.run([str(REPO / ".venv/bin/rooms"), "migrate"], env=env, check=True)
    return var_dir / "rooms.db"


async def measure(port: int, path: str, args: argparse.Namespace, seconds: float,
                  warmup: float) -> LoadResult:
    payload = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    return await closed_loop(port, payload, args.concurrency, warmup, seconds, ok_status=200)


def pooled(results: list[LoadResult]) -> LoadResult:
    """One result of several rounds: their answers, errors, time and latencies together."""
    return LoadResult(sum(r.ok for r in results), sum(r.errors for r in results),
                      sum(r.seconds for r in results),
                      [ms for r in results for ms in r.latencies_ms])


async def archive_run(size: int, tmp: Path, args: argparse.Namespace,
                      rows: list[str]) -> None:
    """Every deployment's server up at once, measured in interleaved rounds (memory, then
    each other deployment, `--rounds` times), so a load spike from elsewhere on a shared
    machine lands on all of them alike; each route's p99 is over all its rounds."""
    routes = [PATH] + (["/api/v1/room/composition"] if args.composition else [])
    got: dict[tuple[str, str], list[LoadResult]] = {}
    with contextlib.ExitStack() as stack:
        ports: dict[str, int] = {}
        for dep in args.deployment:
            var = tmp / f"archive-{size}-{dep}"
            seed(migrate(var), size, kind=dep)
            ports[dep] = free_port()
            stack.enter_context(server(rooms_cmd(ports[dep]),
                                       {**bench_env(var), "ENGINE_DEPLOYMENT": dep},
                                       ports[dep]))
        for n in range(args.rounds):
            for dep in args.deployment:
                for path in routes:
                    result = await measure(ports[dep], path, args, args.seconds / args.rounds,
                                           args.warmup if n == 0 else 0.2)
                    got.setdefault((dep, path), []).append(result)
                    print(size, dep, path, f"round {n + 1}: {result.rate:.0f} req/s, "
                          f"p99 {result.pct(0.99):.1f} ms", flush=True)
    for path in routes:
        base = pooled(got[(args.deployment[0], path)]).pct(0.99)
        for dep in args.deployment:
            r = pooled(got[(dep, path)])
            ratio = r.pct(0.99) / base if base else float("nan")
            verdict = "" if dep == args.deployment[0] else (
                " ok" if ratio <= GOAL else f" over {GOAL}x")
            rows.append(f"| {size:,} | {path} | {dep} | {args.concurrency} | {r.rate:.1f} | "
                        f"{r.pct(0.5):.1f} | {r.pct(0.99):.1f} | {ratio:.2f}{verdict} | "
                        f"{r.errors} |")


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def cycle_loop(port: int, clients: int, warmup: float, seconds: float
                     ) -> tuple[LoadResult, LoadResult]:
    """What a room does per take: GET pool/next, then POST its `playback_ack_url` (the
    heard ack), back to back on one keep-alive connection per client. Returns the cycles
    (GET + ack, one latency each) and the acks alone."""
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds
    cycles: list[float] = []
    acks: list[float] = []
    errors = 0
    host = f"Host: 127.0.0.1:{port}\r\n"

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (t0 := time.perf_counter()) < stop_at:
                writer.write(f"GET {PATH} HTTP/1.1\r\n{host}\r\n".encode())
                status, body = await _response(reader)
                take = json.loads(body)["artifact"] if status == 200 else None
                if take is None:
                    errors += t0 >= measure_from
                    continue
                t1 = time.perf_counter()
                ack = take["playback_ack_url"]
                writer.write(f"POST {ack} HTTP/1.1\r\n{host}Content-Length: 0\r\n\r\n"
                             .encode())
                status, _ = await _response(reader)
                t2 = time.perf_counter()
                if t0 < measure_from:
                    continue
                if status != 200:
                    errors += 1
                    continue
                cycles.append((t2 - t0) * 1000)
                acks.append((t2 - t1) * 1000)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    await asyncio.gather(*(client() for _ in range(clients)))
    return (LoadResult(len(cycles), errors, seconds, cycles),
            LoadResult(len(acks), 0, seconds, acks))


async def cycle_run(size: int, tmp: Path, args: argparse.Namespace, rows: list[str]) -> None:
    """`--cycle`: the pool/next + ack cycle at 1 client (a room) and at `--concurrency`,
    in interleaved rounds on one server (memory deployment)."""
    var = tmp / f"cycle-{size}"
    seed(migrate(var), size)
    port = free_port()
    got: dict[int, list[tuple[LoadResult, LoadResult]]] = {}
    with server(rooms_cmd(port), bench_env(var), port):
        for n in range(args.rounds):
            for clients in sorted({1, args.concurrency}):
                got.setdefault(clients, []).append(await cycle_loop(
                    port, clients, args.warmup if n == 0 else 0.2, args.seconds / args.rounds))
                cycle, ack = got[clients][-1]
                print(size, f"cycle c={clients} round {n + 1}: {cycle.rate:.0f} cycles/s, "
                      f"p99 {cycle.pct(0.99):.2f} ms (ack p99 {ack.pct(0.99):.2f})", flush=True)
    for clients, results in got.items():
        cycle = pooled([c for c, _ in results])
        ack = pooled([a for _, a in results])
        p99s = sorted(c.pct(0.99) for c, _ in results)
        rows.append(f"| {size:,} | {clients} | {cycle.rate:.1f} | {cycle.pct(0.5):.2f} | "
                    f"{cycle.pct(0.99):.2f} [{p99s[0]:.2f} to {p99s[-1]:.2f}] | "
                    f"{ack.pct(0.5):.2f} | {ack.pct(0.99):.2f} | {cycle.errors} |")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=int, nargs="+", default=[0, 1000, 100_000])
    parser.add_argument("--seconds", type=float, default=15,
                        help="per deployment and route, split over the rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--deployment", nargs="+", default=["memory"],
                        choices=sorted(STATUSES), help="the first is the baseline")
    parser.add_argument("--composition", action="store_true")
    parser.add_argument("--cycle", action="store_true",
                        help="the pool/next + heard-ack cycle at 1 and --concurrency clients")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    if args.cycle:
        rows = ["| takes in the archive | clients | cycles/s | cycle p50 ms | "
                "cycle p99 ms (pooled [round range]) | ack p50 ms | ack p99 ms | errors |",
                "|---|---|---|---|---|---|---|---|"]
        with tempfile.TemporaryDirectory(prefix="rooms-pool-bench-") as tmp:
            for size in args.archive:
                await cycle_run(size, Path(tmp), args, rows)
        print("\n" + "\n".join(rows))
        return
    rows = ["| takes in the archive | route | deployment | concurrency | req/s | p50 ms |"
            f" p99 ms | p99 / {args.deployment[0]}'s | errors |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="rooms-pool-bench-") as tmp:
        for size in args.archive:
            await archive_run(size, Path(tmp), args, rows)
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
