"""Resident memory of `rooms serve`, embedded, idle after start and after a first visit (#26).

Starts `rooms serve` on a fresh VAR_DIR (SQLite, file blobs, no Redis), waits for
`/healthz`, waits one more second, and reads RSS, PSS and anonymous memory from
/proc/<pid>/smaps_rollup (MiB). Then one first visit: `/healthz`, the landing page, the
kiosk and the room pages, `/api/v1/pool/next` twice, `/openapi.json` and `/docs`, each with
how long it took (the first page pays for jinja2, the first rate-limited request for
`limits`), and the memory again. `--runs` repeats the whole thing on new servers.

    .venv/bin/python benchmarks/idle_memory.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.process import stop_process

VISIT = ("/healthz", "/", "/kiosk/", "/room/", "/api/v1/pool/next", "/api/v1/pool/next",
         "/openapi.json", "/docs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_mib(pid: int) -> dict[str, float]:
    """Rss, Pss and Anonymous of `pid` in MiB, from smaps_rollup."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        if key in ("Rss", "Pss", "Anonymous"):
            out[key] = int(value.split()[0]) / 1024
    return out


def show(label: str, mem: dict[str, float]) -> None:
    print(f"{label:6s} RSS {mem['Rss']:5.1f} MiB  PSS {mem['Pss']:5.1f}  "
          f"anonymous {mem['Anonymous']:5.1f}", flush=True)


def one_run(root: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_"))}
    env.update({"VAR_DIR": str(root / "var"), "LOG_LEVEL": "warning"})
    base = f"http://127.0.0.1:{port}"
    with (root / "console.log").open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit((root / "console.log").read_text()[-2000:])
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.05)
            print(f"ready after {time.monotonic() - started:.2f} s", flush=True)
            time.sleep(1.0)
            show("idle", memory_mib(proc.pid))
            took = []
            for path in VISIT:
                t0 = time.monotonic()
                status = httpx.get(base + path, timeout=30).status_code
                took.append(f"{path} {status} {1000 * (time.monotonic() - t0):.0f} ms")
            time.sleep(0.5)
            show("warm", memory_mib(proc.pid))
            print("  first visit: " + ", ".join(took), flush=True)
        finally:
            stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="rooms-idle-") as tmp:
            one_run(Path(tmp))


if __name__ == "__main__":
    main()
