"""Scale-out benchmark: ingest and pool/next through 1, 2 and 3 api processes, one run.

Starts throwaway PostgreSQL, Redis and SeaweedFS S3 (tests/services.py), one database and
bucket, then for N in --processes: N `rooms serve` processes (not pinned; Redis, one stream
leader) and a closed loop of --clients keep-alive clients spread round-robin over them
(client-side balancing, no proxy in the path: the figure is the api tier's). Each row is
req/s, p50/p99 ms and the ratio to one process; on this 2-core machine the load generator
and PostgreSQL share the cores, so expect it to level off at 2.

    .venv/bin/python benchmarks/scaleout.py [--seconds 10] [--clients 32] [--processes 1 2 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from benchmarks.ingest import (  # noqa: E402
    LoadResult,
    bench_env,
    closed_loop,
    free_port,
    request_bytes,
    wav_bytes,
)
from tests.services import start_services  # noqa: E402

from rooms.db import migrate  # noqa: E402

SECRET = secrets.token_hex(24)  # signs this run's tokens; never stored


def get_bytes(port: int, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "X-Rooms-Client-Id: bench-room-0001\r\n\r\n").encode()


@contextlib.contextmanager
def processes(n: int, env: dict[str, str], root: Path) -> Iterator[list[int]]:
    ports = [free_port() for _ in range(n)]
    procs = []
    for i, port in enumerate(ports):
        log = (root / f"api{n}-{i}.log").open("wb")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
            env={**os.environ, **env, "VAR_DIR": str(root / f"var{n}-{i}")},
            stdout=log, stderr=subprocess.STDOUT, cwd=root))
    try:
        import httpx

        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rooms serve on {port} did not come up")
                time.sleep(0.1)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def spread(ports: list[int], make: dict[int, bytes], clients: int, warmup: float,
                 seconds: float, ok: int) -> LoadResult:
    per = [clients // len(ports) + (i < clients % len(ports)) for i in range(len(ports))]
    results = await asyncio.gather(*(closed_loop(port, make[port], c, warmup, seconds, ok)
                                     for port, c in zip(ports, per, strict=True) if c))
    return LoadResult(sum(r.ok for r in results), sum(r.errors for r in results), seconds,
                      [x for r in results for x in r.latencies_ms])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rooms-scaleout-") as tmp:
        root = Path(tmp)
        services = start_services(root / "services")
        try:
            url = await services.postgres.create_database("scaleout")
            migrate(url)
            env = {**bench_env(root), "DATABASE_URL": url, "REDIS_URL": services.redis.url,
                   "BLOB_STORE_URL": "s3://scaleout",
                   "S3_ENDPOINT_URL": services.s3.endpoint_url,
                   "S3_ACCESS_KEY": services.s3.access_key,
                   "S3_SECRET_KEY": services.s3.secret_key, "SECRET_KEY": SECRET,
                   "OPS_SHARED_SECRET": SECRET, "LOG_LEVEL": "warning"}
            wav = wav_bytes(10, 48_000)
            rows: dict[str, dict[int, LoadResult]] = {"ingest": {}, "pool/next": {}}
            for n in args.processes:
                with processes(n, env, root) as ports:
                    ingest = {p: request_bytes(p, wav, "bench-kiosk-0001") for p in ports}
                    rows["ingest"][n] = await spread(ports, ingest, args.clients,
                                                     args.warmup, args.seconds, 201)
                    pool = {p: get_bytes(p, "/api/v1/pool/next") for p in ports}
                    rows["pool/next"][n] = await spread(ports, pool, args.clients,
                                                        args.warmup, args.seconds, 200)
        finally:
            services.stop()
    print(f"\n{args.clients} clients, {args.seconds:g} s per row, PostgreSQL + Redis + S3, "
          f"{os.cpu_count()} cores shared with the load generator\n")
    print("| endpoint | api processes | req/s | p50 ms | p99 ms | errors | vs one process |")
    print("|---|---|---|---|---|---|---|")
    for name, by_n in rows.items():
        one = by_n.get(1)
        for n, result in by_n.items():
            ratio = result.rate / one.rate if one and one.rate else float("nan")
            print(f"| {name} | {n} | {result.rate:.1f} | {result.pct(0.5):.1f} | "
                  f"{result.pct(0.99):.1f} | {result.errors} | {ratio:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
