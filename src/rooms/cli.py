"""The `rooms` command: serve, worker, migrate (later: listener-sim, import)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from rooms.config import Settings, load_settings
from rooms.errors import ConfigError
from rooms.logging import configure_logging


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"rooms: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_migrate(settings: Settings) -> None:
    from rooms.db import migrate

    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate(settings.resolved_database_url)


def cmd_serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from rooms.app import create_app
    from rooms.live.runtime import tune_gc

    cmd_migrate(settings)
    app = create_app(settings)
    tune_gc()  # thousands of open websockets: see rooms/live/runtime.py
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=True,
                timeout_graceful_shutdown=10,
                # websocket limits and heartbeats live in the ASGI server (docs/live.md)
                ws_per_message_deflate=False, ws_max_size=2 * settings.live_max_message_bytes,
                ws_ping_interval=settings.live_heartbeat_s,
                ws_ping_timeout=settings.live_heartbeat_s)


def cmd_worker(settings: Settings) -> None:
    if not settings.redis_url:
        print("rooms: `rooms worker` needs REDIS_URL; without it jobs run inside "
              "`rooms serve`", file=sys.stderr)
        raise SystemExit(2)
    from rooms.worker import run_worker

    asyncio.run(run_worker(settings))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rooms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve HTTP and websockets")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="upgrade the database to the newest schema")
    sub.add_parser("worker", help="run the arq job worker (needs REDIS_URL)")
    args = parser.parse_args(argv)
    settings = _settings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        cmd_serve(settings, args.host, args.port)
    elif args.command == "migrate":
        cmd_migrate(settings)
    elif args.command == "worker":
        cmd_worker(settings)


if __name__ == "__main__":
    main()
