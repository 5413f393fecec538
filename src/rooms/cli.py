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


# pydantic.v1 (~1.4 MiB) is imported by FastAPI only to ask whether a route's model is a v1
# one; none is, and without the module the answer is "no" (README "Idle memory").
UNUSED_BY_SERVE = ("pydantic.v1",)


def leave_out_unused() -> None:
    """Keep modules `rooms serve` never uses out of its process (README "Idle memory").

    UNUSED_BY_SERVE is marked as not installed, unless already imported. uvicorn's and
    prometheus_client's `__init__` run only if a name from them is asked for
    (`rooms.kit.lazyinit`): `rooms serve` uses uvicorn's `Config` and `Server` (its
    programmatic API; `__init__` would add its command line: click, the reload and worker
    supervisors, watchfiles) and prometheus_client's metrics, registry and, on the first
    scrape of /metrics, exposition (`__init__` would add its HTTP servers). FastAPI's own
    pydantic models are built when the OpenAPI document first is."""
    for name in UNUSED_BY_SERVE:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    from rooms.kit.lazyinit import defer_init, import_deferring_models

    uvicorn = defer_init("uvicorn")
    if uvicorn is not None:
        from uvicorn.config import Config
        from uvicorn.server import Server

        uvicorn.Config = Config  # type: ignore[attr-defined]  # uvicorn.lifespan imports it
        uvicorn.Server = Server  # type: ignore[attr-defined]
    defer_init("prometheus_client")
    import_deferring_models("fastapi")


def cmd_serve(settings: Settings, host: str, port: int) -> None:
    leave_out_unused()
    from uvicorn.config import STARTUP_FAILURE, Config
    from uvicorn.server import Server

    from rooms.app import create_app
    from rooms.live.runtime import tune_gc
    from rooms.serving import raise_fd_limit, uvicorn_options

    fd_limit = raise_fd_limit()  # before anything opens a descriptor (README "Reliability")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate_in_child()
    app = create_app(settings)
    tune_gc()  # thousands of open websockets: see rooms/live/runtime.py
    # proxy_headers off: TRUSTED_PROXIES (rooms.kit.clients) is the one rule for them
    config = Config(app, host=host, port=port, log_config=None, proxy_headers=False,
                    **uvicorn_options(settings, fd_limit),
                    timeout_graceful_shutdown=10,
                    # websocket limits and heartbeats live in the ASGI server (docs/live.md)
                    ws_per_message_deflate=False,
                    ws_max_size=2 * settings.live_max_message_bytes,
                    ws_ping_interval=settings.live_heartbeat_s,
                    ws_ping_timeout=settings.live_heartbeat_s)
    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        server.run()
    if not server.started:  # as uvicorn.run: the port was taken, the lifespan failed
        raise SystemExit(STARTUP_FAILURE)


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
