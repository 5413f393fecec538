"""`rooms serve` keeps the heavy render libraries out of the server process.

numpy, scipy, Pillow and libsndfile cost the server ~80 MiB of resident memory; a small
box (a Raspberry Pi in a gallery) notices. They load only in the render pool's processes,
which start when a FOSSIL take is first rendered: the server itself, even after rendering,
never maps them (read from /proc/<pid>/maps, the shared objects it has loaded), and the
migration runs in a child process, so alembic is not in it either.

And the server itself is small when idle: its resident memory right after start (README
"Idle memory"), read from /proc/<pid>/smaps_rollup, stays under IDLE_RSS_MIB.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.audio import wav16
from tests.process import stop_process

HEAVY = ("_multiarray_umath", "/scipy/", "/PIL/", "libsndfile", "_soundfile")
# the goal (#26); measured 77.2 to 77.7 MiB (Python 3.11, x86-64, 2026-11-30; 89.7
# before the deferrals in README "Idle memory"), the same to 0.2 MiB from run to run
IDLE_RSS_MIB = 80


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _heavy_maps(pid: int) -> set[str]:
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {line.split()[-1] for line in maps if any(h in line for h in HEAVY)}


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Rss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Rss in smaps_rollup")


def _children(pid: int) -> list[int]:
    with contextlib.suppress(FileNotFoundError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _descendants(pid: int) -> list[int]:
    out = []
    for child in _children(pid):
        out += [child, *_descendants(child)]
    return out


@pytest.mark.timeout(180)
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc")
def test_the_idle_server_is_small_and_never_loads_numpy_scipy_or_pillow(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_"))}
    env.update({"VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "warning"})
    log = (tmp_path / "console.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "console.log").read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        assert _heavy_maps(proc.pid) == set()
        time.sleep(1.0)  # the lifespan's first tasks have run
        assert _rss_mib(proc.pid) < IDLE_RSS_MIB
        # a FOSSIL take is rendered (in the render pool), and still the server maps nothing
        ids = []
        for mode in ("ROOM", "FOSSIL"):
            answer = httpx.post(f"{base}/api/v1/artifacts/audio", timeout=30,
                                data={"consent_mode": mode},
                                files={"file": ("t.wav", wav16(2.0), "audio/wav")})
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["artifact"]["id"])
        rendered = tmp_path / "var" / "blobs" / "derivatives" / str(ids[1]) / "essence.wav"
        deadline = time.monotonic() + 90
        while not rendered.exists():
            assert time.monotonic() < deadline, "the render never finished"
            time.sleep(0.2)
        assert _heavy_maps(proc.pid) == set()
        assert any(_heavy_maps(p) for p in _descendants(proc.pid))  # the renderers hold them
        # what loads on first use in `rooms serve` (rooms.kit.lazyinit) answers as ever
        scrape = httpx.get(f"{base}/metrics", timeout=30)
        assert scrape.status_code == 200 and "rooms_http_requests_total{" in scrape.text
        document = httpx.get(f"{base}/openapi.json", timeout=30)
        assert document.status_code == 200
        assert "/api/v1/pool/next" in document.json()["paths"]
    finally:
        stop_process(proc)
        log.close()
