"""Many websockets closing at once: do the listeners who stay notice? (issue 19, item 5)

One `rooms` live server (benchmarks/live_server.py, pinned to CPU 0 like live_fanout.py);
`--keep` clients stay subscribed while the server publishes `--rate` events/s for
`--seconds`. In each cycle the load first runs undisturbed (the baseline), then again while
`--churn` other subscribed clients all close at once, one second in (a TCP FIN from each, as
a gallery's tablets do when their Wi-Fi drops them together, or `--abort` for a reset).
Reported per cycle: the staying clients' delivery latency p50 / p99 / max in both runs,
and the server's RSS before the churn clients connected and after they left (leak or
allocator high-water: issue 19 asked for three cycles).

    .venv/bin/python benchmarks/close_storm.py [--keep 100] [--churn 300] [--cycles 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.live_fanout import (
    PAD,
    Server,
    Stats,
    connect_all,
    free_port,
    rss_kb,
)


def percentiles(stats: Stats) -> tuple[float, float, float]:
    """(p50, p99, max) of the delivery latencies, in ms."""
    lat = np.array(stats.latencies) * 1000 if stats.latencies else np.zeros(1)
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), float(lat.max())


async def publish(server: Server, rate: float, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    server.command(f"PUBLISH {rate} {seconds} {PAD}")
    await loop.run_in_executor(None, server.line)
    await asyncio.sleep(0.5)  # the last events reach the clients


async def cycle(server: Server, keep: Stats, args: argparse.Namespace
                ) -> tuple[tuple[float, float, float], tuple[float, float, float], int, int]:
    before = rss_kb(server.proc.pid)
    churn = await connect_all(server, args.churn, Stats())
    keep.reset()
    await publish(server, args.rate, args.seconds)
    baseline = percentiles(keep)

    async def storm() -> None:
        await asyncio.sleep(1.0)
        for transport in churn:
            if args.abort:
                transport.abort()
            else:
                transport.close()

    keep.reset()
    await asyncio.gather(publish(server, args.rate, args.seconds), storm())
    during = percentiles(keep)
    await asyncio.sleep(1.0)  # the server notices every close
    return baseline, during, before, rss_kb(server.proc.pid)


async def run(args: argparse.Namespace) -> None:
    server = Server("rooms", free_port())
    keep = Stats()
    try:
        await asyncio.sleep(0.5)
        await connect_all(server, args.keep, keep)
        print("| cycle | staying clients: p50 / p99 / max ms, undisturbed | "
              f"while {args.churn} close at once | RSS before → after the churn |")
        print("|---|---|---|---|")
        for n in range(1, args.cycles + 1):
            started = time.time()
            base, storm, before, after = await cycle(server, keep, args)
            print(f"| {n} | {base[0]:.1f} / {base[1]:.1f} / {base[2]:.1f} "
                  f"| {storm[0]:.1f} / {storm[1]:.1f} / {storm[2]:.1f} "
                  f"| {before / 1024:.1f} → {after / 1024:.1f} MiB |", flush=True)
            print(f"cycle {n}: {time.time() - started:.1f} s", file=sys.stderr)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", type=int, default=100)
    parser.add_argument("--churn", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0, help="events/s")
    parser.add_argument("--seconds", type=float, default=3.0, help="per run")
    parser.add_argument("--abort", action="store_true", help="reset instead of FIN")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
