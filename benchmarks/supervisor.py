"""Supervisor benchmark: event-loop lag with every worker running, and how soon a worker
whose listener threshold is crossed sends its first event.

One event loop (uvloop, as `rooms serve`) holds a real hub, the supervisor with every task of
the seed's table running (all_in_stage enabled, noise_metadata opted into the commons, the
streams at their default paces) and N live clients (default 1,000): hub mailboxes counted as
/ws/live listeners, each subscribed to every stream topic and drained by its own task, as
the server's per-socket writer does (sockets themselves are live_fanout.py's subject).

Every task runs that the table allows at N clients (discovery_probe stops above one).

1. Lag: a 10 ms ticker (`asyncio.sleep(0.01)`) for `--seconds`; lateness of each wake-up.
   Target: p99 < 20 ms.
2. Crossing to first event: a probe task (`min_ws_clients` N + 1, hold_s `--hold`) that
   publishes at once when it starts; one more client joins, and the time from the join +
   hold_s to the first event a client receives is measured; the client leaves, the task
   stops, and again (`--rounds`). Target: < 100 ms.

    .venv/bin/python benchmarks/supervisor.py [--quick] [--clients 1000] [--seconds 20]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rooms.config import load_settings  # noqa: E402
from rooms.live.hub import Hub  # noqa: E402
from rooms.supervisor import Supervisor  # noqa: E402
from rooms.supervisor.context import WorkerContext  # noqa: E402
from rooms.supervisor.spec import SEED_TASKS, Hysteresis, TaskSpec  # noqa: E402
from rooms.supervisor.workers import OWN_STREAMS, TOPICS, WORKERS, tempo_range_s  # noqa: E402

STREAM_TOPICS = ("noise_metadata", "topic1", "discovery_probe", "stage", "beacons", "commons")
CROSSING = "crossing"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drain(sub: Any, counter: list[int]) -> None:
    while True:
        while sub.next_text() is not None:
            counter[0] += 1
        waiter = sub.waiter()
        if waiter is not None:
            await waiter


async def main(args: argparse.Namespace) -> None:
    var = Path(tempfile.mkdtemp(prefix="rooms-bench-supervisor-"))
    settings = load_settings(var_dir=var, secret_key="x" * 32, redis_url="",
                             live_queue_size=256)
    first_event: asyncio.Future[float] | None = None

    async def crossing(ctx: WorkerContext) -> None:
        await ctx.publish(CROSSING, {"event": "started"})
        while True:
            ctx.heartbeat()
            await asyncio.sleep(1)

    specs = [s if s.name not in ("all_in_stage", "noise_metadata")
             else s.model_copy(update={"enabled": True, "commons": s.name == "noise_metadata"})
             for s in SEED_TASKS]
    specs.append(TaskSpec(name=CROSSING, min_ws_clients=args.clients + 1,
                          hysteresis=Hysteresis(hold_s=args.hold)))
    received = [0]
    drainers: list[asyncio.Task[None]] = []
    async with Hub(settings=settings, redis=None) as hub, \
            Supervisor(settings=settings, hub=hub, specs=specs,
                       workers={**WORKERS, CROSSING: crossing}, topics=TOPICS,
                       own_streams=OWN_STREAMS, tempo=tempo_range_s) as sup, \
            contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as tg:
        for _ in range(args.clients):
            sub = await stack.enter_async_context(hub.connection())
            sub.join(*STREAM_TOPICS)
            drainers.append(tg.create_task(drain(sub, received)))
        await asyncio.sleep(1)  # the workers settle
        running = sorted(n for n, w in sup.workers().items() if w["state"] == "running")

        # 1. loop lag
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        before = received[0]
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end:  # (uvloop's loop.time() has 1 ms steps)
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(max(0.0, time.perf_counter() - t0 - 0.01) * 1000)
        per_s = (received[0] - before) / args.seconds

        # 2. crossing -> first event
        delays: list[float] = []
        async with hub.subscribe(CROSSING) as watcher:  # not a listener: it must not count
            for _ in range(args.rounds):
                first_event = loop.create_future()

                async def watch(fut: asyncio.Future[float] = first_event) -> None:
                    waiter = watcher.waiter()
                    if waiter is not None:
                        await waiter
                    watcher.next_text()
                    fut.set_result(time.perf_counter())

                watching = tg.create_task(watch())
                async with hub.connection():  # the client that crosses the threshold
                    crossed = time.perf_counter()
                    got = await asyncio.wait_for(first_event, args.hold + 10)
                    delays.append((got - crossed - args.hold) * 1000)
                    await watching
                # it leaves; wait for the task to stop before the next round
                async with asyncio.timeout(args.hold + 10):
                    while sup.workers()[CROSSING]["state"] != "stopped":
                        await asyncio.sleep(0.01)
                while watcher.next_text() is not None:
                    pass
        for task in drainers:  # they run until stopped
            task.cancel()
    print("| clients | workers running | events to clients/s | lag p50 | lag p99 | lag max "
          "| crossing→first event p50 | max |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.clients} | {', '.join(running)} | {per_s:,.0f} "
          f"| {statistics.median(lags):.2f} ms | {pct(lags, 0.99):.2f} ms | {max(lags):.2f} ms "
          f"| {statistics.median(delays):.1f} ms | {max(delays):.1f} ms |")
    print(f"\n({len(lags)} ticks over {args.seconds:g} s; {len(delays)} crossings, "
          f"hold_s {args.hold:g}; targets: lag p99 < 20 ms, crossing < 100 ms)")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--hold", type=float, default=0.5, help="hold_s of the probe task")
    parser.add_argument("--quick", action="store_true", help="3 s of lag, 3 crossings")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds = 3.0, 3
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        asyncio.run(main(args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
