"""The `rooms` command: serve, worker, migrate, listener-sim, import, backup, restore,
archive-day."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def migrate_in_child() -> None:
    """`rooms migrate` in a short-lived child process with this environment: alembic, mako
    and the migration scripts (~7 MiB) never load into the long-running server. Exits with
    the child's status when it fails (its error is already on stderr)."""
    import subprocess

    done = subprocess.run([sys.executable, "-m", "rooms.cli", "migrate"], check=False)
    if done.returncode:
        raise SystemExit(done.returncode)


# Modules `rooms serve` never uses, which its libraries would import anyway (README "Idle
# memory"): uvicorn imports watchfiles for `--reload` when it is installed (~1.2 MiB with its
# Rust library; without it uvicorn falls back to polling, and rooms never reloads); FastAPI
# imports pydantic.v1 (~1.4 MiB) to ask whether a route's model is a v1 one (none is; without
# it the answer is "no").
UNUSED_BY_SERVE = ("watchfiles", "pydantic.v1")


def leave_out_unused() -> None:
    """Mark UNUSED_BY_SERVE as not installed in this process, unless already imported."""
    for name in UNUSED_BY_SERVE:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def cmd_serve(settings: Settings, host: str, port: int) -> None:
    leave_out_unused()
    import uvicorn

    from rooms.app import create_app
    from rooms.live.runtime import tune_gc
    from rooms.serving import raise_fd_limit, uvicorn_options

    fd_limit = raise_fd_limit()  # before anything opens a descriptor (README "Reliability")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate_in_child()
    app = create_app(settings)
    tune_gc()  # thousands of open websockets: see rooms/live/runtime.py
    # proxy_headers off: TRUSTED_PROXIES (rooms.kit.clients) is the one rule for them
    uvicorn.run(app, host=host, port=port, log_config=None, proxy_headers=False,
                **uvicorn_options(settings, fd_limit),
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


def cmd_listener_sim(settings: Settings, rounds: int | None, ws: str | None,
                     prefer: str | None) -> None:
    from rooms.streams import listener_sim

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(listener_sim.main(settings, rounds=rounds, ws=ws,
                                      prefer="high" if prefer == "high" else
                                      "low" if prefer == "low" else None))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="rooms", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate, then serve HTTP and websockets")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    sub.add_parser("migrate", help="upgrade the database to the newest schema")
    sub.add_parser("worker", help="run the arq job worker (needs REDIS_URL)")
    sim = sub.add_parser("listener-sim",
                         help="answer stream beacons by subscribing (seed 002's simulation)")
    sim.add_argument("--rounds", type=int, default=None, help="stop after this many polls")
    sim.add_argument("--ws", metavar="URL", default=None,
                     help="listen over the live websocket of the server at URL")
    sim.add_argument("--prefer", choices=("high", "low"), default=None,
                     help="prefer beacons of this entropy profile")
    from rooms.archive.parsers import COMMANDS as ARCHIVE_COMMANDS
    from rooms.archive.parsers import add_parsers  # the commands load only when run

    add_parsers(sub)
    args = parser.parse_args(argv)
    settings = _settings()
    configure_logging(settings.log_level)
    if args.command == "serve":
        cmd_serve(settings, args.host, args.port)
    elif args.command == "migrate":
        cmd_migrate(settings)
    elif args.command == "worker":
        cmd_worker(settings)
    elif args.command == "listener-sim":
        cmd_listener_sim(settings, args.rounds, args.ws, args.prefer)
    elif args.command in ARCHIVE_COMMANDS:
        from rooms.archive import commands as archive_commands

        raise SystemExit(archive_commands.run(args, settings))


if __name__ == "__main__":
    main()
