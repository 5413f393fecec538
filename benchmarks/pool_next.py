"""pool/next benchmark: req/s and p50/p99 of GET /api/v1/pool/next as the archive grows.

Seeds embedded instances with 0 / 1,000 / 100,000 ACTIVE takes straight into SQLite (rows
only: pool/next never opens the audio), with varied wear, play counts, ages, durations and
last plays, so the pool's batches and weights do real work. Each server is `rooms serve`
pinned to CPU 0; this process drives it from CPU 1, closed loop, raw HTTP/1.1 keep-alive
(the same client as benchmarks/ingest.py).

    .venv/bin/python benchmarks/pool_next.py [--archive 0 1000 100000] [--seconds 15]
        [--deployment memory question] [--composition]

`--deployment` runs each archive size once per ENGINE_DEPLOYMENT (the takes seeded with that
`deployment_kind`, varied topics and lifecycle statuses, so the preferred batches do real
work) and prints each p99 beside memory's (issue 22: within 1.5x). `--composition` also
times GET /api/v1/room/composition on the first deployment's server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.ingest import (  # noqa: E402
    bench_env,
    closed_loop,
    free_port,
    rooms_cmd,
    server,
)

PATH = "/api/v1/pool/next"
STAMP = "%Y-%m-%d %H:%M:%S.%f"


STATUSES = {"memory": ("", "open", "resolved"), "question": ("", "open", "pending", "answered"),
            "prompt": ("", "seed", "echo", "spent"), "repair": ("", "pending", "needs_part",
                                                                "fixed"),
            "witness": ("", "observed", "verified"), "oracle": ("", "held", "spent")}
TOPICS = ("", "", "bridge", "hinge", "river")


def seed(db_path: Path, count: int, *, rng_seed: int = 1, kind: str = "memory") -> None:
    """`count` ACTIVE takes with varied pool state, in one transaction."""
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
                rng.choice(STATUSES[kind]), min(1.0, plays * 0.005), plays, heard, expires)

    db.executemany(
        "INSERT INTO artifact (id, kind, consent_id, created_at, status, consent_mode, raw_uri,"
        " raw_sha256, duration_ms, sample_rate, effect_profile, effect_metadata,"
        " deployment_kind, topic_tag, lifecycle_status, wear, play_count, last_access_at,"
        " expires_at) VALUES (?, 'audio_snippet', ?, ?, 'ACTIVE', 'ROOM', ?, '', ?, 48000,"
        " 'clear', '{}', ?, ?, ?, ?, ?, ?, ?)",
        (row(i) for i in range(1, count + 1)))
    db.commit()
    db.close()


def migrate(var_dir: Path) -> Path:
    env = {**os.environ, **bench_env(var_dir)}
    subprocess.run([str(REPO / ".venv/bin/rooms"), "migrate"], env=env, check=True)
    return var_dir / "rooms.db"


async def measure(port: int, path: str, args: argparse.Namespace) -> tuple[float, float,
                                                                         float, int]:
    payload = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    result = await closed_loop(port, payload, args.concurrency, args.warmup, args.seconds,
                               ok_status=200)
    return result.rate, result.pct(0.5), result.pct(0.99), result.errors


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archive", type=int, nargs="+", default=[0, 1000, 100_000])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--deployment", nargs="+", default=["memory"],
                        choices=sorted(STATUSES))
    parser.add_argument("--composition", action="store_true")
    args = parser.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    rows = ["| takes in the archive | route | deployment | concurrency | req/s | p50 ms |"
            " p99 ms | p99 / memory's | errors |", "|---|---|---|---|---|---|---|---|---|"]
    measured: list[tuple[int, str, str, float, float, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="rooms-pool-bench-") as tmp:
        for size in args.archive:
            memory_p99: float | None = None
            for n, dep in enumerate(args.deployment):
                var = Path(tmp) / f"archive-{size}-{dep}"
                seed(migrate(var), size, kind=dep)
                port = free_port()
                env = {**bench_env(var), "ENGINE_DEPLOYMENT": dep}
                routes = [PATH] + (["/api/v1/room/composition"]
                                   if args.composition and n == 0 else [])
                with server(rooms_cmd(port), env, port):
                    for path in routes:
                        rate, p50, p99, errors = await measure(port, path, args)
                        if path == PATH and dep == "memory":
                            memory_p99 = p99
                        measured.append((size, path, dep, rate, p50, p99, errors))
                        print(measured[-1], flush=True)
            for m_size, path, dep, rate, p50, p99, errors in measured:
                if m_size != size:
                    continue
                ratio = f"{p99 / memory_p99:.2f}" if path == PATH and memory_p99 else ""
                rows.append(f"| {size:,} | {path} | {dep} | {args.concurrency} | {rate:.1f} | "
                            f"{p50:.1f} | {p99:.1f} | {ratio} | {errors} |")
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
