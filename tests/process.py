"""Real processes for multi-process tests: `rooms serve`, `rooms worker`, Caddy.

Each runs as our child with its output in `root/<name>.log`, and is stopped by its own PID
(SIGTERM, then SIGKILL). `Proc.kill()` is the crash a test inflicts.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the crash (no clean shutdown, no lock released)."""
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            stop_process(self.popen, timeout)
        self.popen.wait(10)


def stop_process(popen: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` s; waits for the end."""
    popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(5)


def spawn(name: str, args: list[str], root: Path, env: dict[str, str],
          port: int | None = None) -> Proc:
    root.mkdir(parents=True, exist_ok=True)
    log = root / f"{name}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(args, cwd=root, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return Proc(name, popen, log, port)


def wait_until(proc: Proc, ready: Callable[[], bool], what: str,
               timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.alive(), f"{what} exited:\n{proc.tail()}"
        assert time.monotonic() < deadline, f"{what} not ready in {timeout:.0f} s:\n{proc.tail()}"
        time.sleep(0.1)


def answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(url, timeout=2).status_code == 200
    return False


def clean_env(**extra: str) -> dict[str, str]:
    """Our environment without any rooms setting a developer may have exported."""
    prefixes = ("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_", "S3_", "VAR_DIR", "LEADER_",
                "ROOMS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[tuple[Proc, ...]]:
    try:
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def rooms_serve(name: str, root: Path, env: dict[str, str]) -> Proc:
    """`rooms serve` on a free port; returns once /healthz is 200."""
    port = free_port()
    proc = spawn(name, [sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                 root, env, port)
    wait_until(proc, lambda: answers(proc.base + "/healthz"), f"rooms serve ({name})")
    return proc


def rooms_worker(name: str, root: Path, env: dict[str, str]) -> Proc:
    return spawn(name, [sys.executable, "-m", "rooms.cli", "worker"], root, env)
