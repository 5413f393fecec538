"""Slow clients against one `rooms serve` started with a 1,024-fd limit (soft = hard).

Opens `--held` connections that each send half a request's headers and then nothing (the
issue's 1,100 half-sent requests), plus `--uploads` uploads that send their headers and
4 KiB of body and then stall; meanwhile probes /healthz every 0.5 s. Reports what the held
connections were answered (503 at once past the connection bound, 408 at the header or
body timeout), the server's peak open fds, /healthz's answers during the attack, and
whether the server and its workers were still up afterwards.

    .venv/bin/python benchmarks/slow_clients.py [--held 1100] [--uploads 200]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
FD_LIMIT = 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def held(port: int, data: bytes, answers: collections.Counter[str]) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as exc:
        answers[f"connect failed: {exc.__class__.__name__}"] += 1
        return
    start = time.monotonic()
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(4096), 120)
        status = raw.split(b" ", 2)[1].decode() if raw else "closed"
        answers[f"{status} after {round(time.monotonic() - start):d} s"] += 1
    except (OSError, TimeoutError) as exc:
        answers[exc.__class__.__name__] += 1
    finally:
        writer.close()


async def attack(port: int, pid: int, n_held: int, n_uploads: int) -> None:
    answers: collections.Counter[str] = collections.Counter()
    health: collections.Counter[str] = collections.Counter()
    peak_fds = 0
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow"
    upload = (b"POST /api/v1/artifacts/audio HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n--b\r\n"
              b"Content-Disposition: form-data; name=\"file\"; filename=\"t.wav\"\r\n\r\n"
              + b"\0" * 4096)
    tasks = [asyncio.create_task(held(port, upload, answers)) for _ in range(n_uploads)]
    tasks += [asyncio.create_task(held(port, head, answers)) for _ in range(n_held)]
    async with httpx.AsyncClient(timeout=5) as http:
        while not all(t.done() for t in tasks):
            peak_fds = max(peak_fds, len(os.listdir(f"/proc/{pid}/fd")))
            start = time.monotonic()
            try:
                r = await http.get(f"http://127.0.0.1:{port}/healthz")
                health[f"{r.status_code} in <{1 + int(time.monotonic() - start)} s"] += 1
            except httpx.HTTPError as exc:
                health[exc.__class__.__name__] += 1
            await asyncio.sleep(0.5)
        after = await http.get(f"http://127.0.0.1:{port}/health")
    print(f"held connections ({n_held} half-sent headers, {n_uploads} stalled uploads):")
    for key, count in sorted(answers.items(), key=lambda kv: -kv[1]):
        print(f"  {count:5}  {key}")
    print(f"server's peak open fds: {peak_fds} of {FD_LIMIT}")
    print(f"/healthz during: {dict(health)}")
    print(f"after: /health {after.status_code}, workers "
          f"{ {k: v['state'] for k, v in after.json()['workers'].items()} }")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--held", type=int, default=1100)
    parser.add_argument("--uploads", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rooms-slow-") as tmp:
        port = free_port()
        env = {**os.environ, "VAR_DIR": str(Path(tmp) / "var"), "LOG_LEVEL": "warning",
               "SECRET_KEY": secrets.token_urlsafe(32), "PYTHONPATH": str(REPO / "src")}

        def fd_limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

        proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port",
                                 str(port)], cwd=tmp, env=env, preexec_fn=fd_limit,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                time.sleep(0.2)
            asyncio.run(attack(port, proc.pid, args.held, args.uploads))
            print(f"server still running: {proc.poll() is None}")
        finally:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
