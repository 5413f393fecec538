"""Server side of benchmarks/live_fanout.py: rooms, or a bare `websockets` broadcast server.

    python benchmarks/live_server.py rooms|bare PORT

Prints `READY` once listening, then obeys lines on stdin:
    PUBLISH <events/s> <seconds> <pad bytes>  -> publishes on topic "stage", prints `DONE <n>`
    QUIT                                       -> stops
Each event is `{"topic":"stage","seq":N,"ts":<time.time() at publish>,"pad":"xx…"}`.

`rooms` is the real app (create_app, embedded, uvicorn configured as `rooms serve` does: its
websocket protocol, no proxy headers, no permessage-deflate; not its connection bound) and
publishes through `hub.publish`; `bare` is the smallest broadcast server the `websockets`
library allows (`serve` + `broadcast`, no queues, no backpressure), both on uvloop.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from rooms.live.runtime import tune_gc  # noqa: E402

Publish = Callable[[dict[str, object]], Awaitable[None]]
TICK_S = 0.005


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 16
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(target, 1 << 16)), hard))


async def publisher(rate: float, seconds: float, pad: int, publish: Publish) -> int:
    """Publish `rate` events/s for `seconds`: each tick sends every event that is due."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    filler = "x" * pad
    while True:
        elapsed = loop.time() - start
        due = min(int(rate * elapsed) + 1, int(rate * seconds))
        while sent < due:
            await publish({"seq": sent, "ts": time.time(), "pad": filler})
            sent += 1
        if elapsed >= seconds:
            return sent
        await asyncio.sleep(TICK_S)


async def control(publish: Publish) -> None:
    """Read commands from stdin until QUIT or EOF."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print("READY", flush=True)
    while line := (await reader.readline()).decode().split():
        if line[0] == "PUBLISH":
            n = await publisher(float(line[1]), float(line[2]), int(line[3]), publish)
            print(f"DONE {n}", flush=True)
        elif line[0] == "QUIT":
            return


async def run_rooms(port: int) -> None:
    import uvicorn

    from rooms.app import create_app
    from rooms.config import load_settings
    from rooms.db import migrate
    from rooms.logging import configure_logging
    from rooms.serving import LeanWebSockets

    var = Path(tempfile.mkdtemp(prefix="rooms-live-bench-"))
    settings = load_settings(var_dir=var, secret_key=os.environ["SECRET_KEY"],
                             ops_shared_secret="bench", redis_url="")
    configure_logging(settings.log_level)
    migrate(settings.resolved_database_url)
    app = create_app(settings)
    tune_gc()  # as `rooms serve` does
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                            proxy_headers=False, ws=LeanWebSockets, ws_per_message_deflate=False,
                            timeout_graceful_shutdown=2, backlog=4096)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)

    async def publish(event: dict[str, object]) -> None:
        await app.state.rooms.hub.publish("stage", event)

    await control(publish)
    server.should_exit = True
    await task


async def run_bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    tune_gc()  # the same runtime settings for both servers
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        request = json.loads(await ws.recv())
        await ws.send(json.dumps({"op": "subscribed", "topics": request["topics"]}))
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def publish(event: dict[str, object]) -> None:
        broadcast(clients, json.dumps({"topic": "stage", **event}, separators=(",", ":")))

    async with serve(handler, "127.0.0.1", port, compression=None, backlog=4096):
        await control(publish)


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    uvloop.run(run_rooms(port) if kind == "rooms" else run_bare(port))


if __name__ == "__main__":
    main()
