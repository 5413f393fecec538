"""No client can hold the server: slow bodies time out (408), uploads and connections are
bounded (503), slow headers time out (408), and `rooms serve` raises its fd limit.

Real sockets against a real uvicorn (in this process, on the app fixture), writing bytes as
a slow or stalled client would; the timeouts are made short through the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rooms.config import Settings
from rooms.recordings.upload import FLUSH_BYTES
from rooms.serving import FD_RESERVE, connection_limit, uvicorn_options
from tests.audio import wav16
from tests.helpers import resources
from tests.live.conftest import LiveServer, serve
from tests.process import stop_process

UPLOAD = "/api/v1/artifacts/audio"
BOUNDARY = "rooms-test-boundary"


def multipart_head(size: int) -> tuple[bytes, bytes]:
    """The start of a one-file multipart body (up to the file's bytes) and its end."""
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"consent_mode\"\r\n\r\n"
            f"ROOM\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"t.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


class Slow:
    """A client that sends a request's headers and part of its body, then stalls."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def upload(cls, port: int, body_part: int = 4096) -> Slow:
        wav = wav16(1.0 if body_part < 90_000 else 12.0)  # 96 KB a second
        head, tail = multipart_head(len(wav))
        length = len(head) + len(wav) + len(tail)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((f"POST {UPLOAD} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                      f"X-Rooms-Client-Id: kiosk-slow-01\r\n"
                      f"Content-Length: {length}\r\n\r\n").encode() + head + wav[:body_part])
        await writer.drain()
        return cls(reader, writer)

    @classmethod
    async def raw(cls, port: int, data: bytes) -> Slow:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        await writer.drain()
        return cls(reader, writer)

    async def answer(self, timeout: float = 10) -> tuple[int, dict[str, str], Any]:
        """The response's status, headers and JSON body; then the server must close."""
        async with asyncio.timeout(timeout):
            raw = await self.reader.read(65536)
            assert raw, "closed without an answer"
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            while len(body) < int(headers.get("content-length", "0")):
                more = await self.reader.read(65536)
                if not more:
                    break
                body += more
            assert await self.reader.read() == b""  # and the connection is closed
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        return int(lines[0].split()[1]), headers, json.loads(body) if body else None


@contextlib.asynccontextmanager
async def server_for(app: FastAPI, **settings: Any) -> AsyncIterator[LiveServer]:
    res = resources(app)
    for name, value in settings.items():
        setattr(res.settings, name, value)
    async with serve(app, **uvicorn_options(res.settings, 4096)) as server:
        yield server


def spools(app: FastAPI) -> set[str]:
    return {p.name for p in resources(app).blobs.staging_dir().glob("upload-*")}


async def test_a_stalled_upload_is_408_and_leaves_no_spool(app: FastAPI) -> None:
    before = spools(app)
    async with server_for(app, server_body_idle_timeout_seconds=0.5) as server:
        slow = await Slow.upload(server.port)
        started = time.monotonic()
        status, headers, body = await slow.answer()
        assert time.monotonic() - started < 5
        assert status == 408 and headers["connection"] == "close"
        assert body["error"]["code"] == "upload_timeout"
        assert spools(app) == before  # the spool of the half-sent take is gone
        async with httpx.AsyncClient(base_url=server.http) as http:
            ok = await http.post(UPLOAD, files={"file": ("t.wav", wav16(0.5), "audio/wav")},
                                 data={"consent_mode": "ROOM"},
                                 headers={"X-Rooms-Client-Id": "kiosk-fast-01"})
            assert ok.status_code == 201, ok.text  # a client that sends is unaffected


async def test_a_stalled_json_body_is_408_too(app: FastAPI) -> None:
    async with server_for(app, server_body_idle_timeout_seconds=0.5) as server:
        slow = await Slow.raw(server.port, b"POST /api/v1/revoke HTTP/1.1\r\nHost: x\r\n"
                                           b"Content-Type: application/json\r\n"
                                           b"Content-Length: 100\r\n\r\n{\"token\": ")
        status, _, body = await slow.answer()
        assert status == 408 and body["error"]["code"] == "request_timeout"


async def test_uploads_past_the_bound_are_503_until_one_finishes(app: FastAPI) -> None:
    async with server_for(app, server_body_idle_timeout_seconds=3,
                          ingest_max_concurrent_uploads=2) as server:
        # past the first flush, so each held upload has its spool on disk
        held = [await Slow.upload(server.port, FLUSH_BYTES + 4096) for _ in range(2)]
        async with httpx.AsyncClient(base_url=server.http) as http:
            async def one() -> httpx.Response:
                return await http.post(UPLOAD, files={"file": ("t.wav", wav16(0.5),
                                                                "audio/wav")},
                                       data={"consent_mode": "ROOM"},
                                       headers={"X-Rooms-Client-Id": "kiosk-fast-02"})

            async def two_held() -> None:
                while True:  # both slow uploads are inside the app (their spools exist)
                    if len(spools(app)) >= 2:
                        return
                    await asyncio.sleep(0.02)

            await asyncio.wait_for(two_held(), 5)
            busy = await one()
            assert busy.status_code == 503
            assert busy.json()["error"]["code"] == "uploads_busy"
            assert busy.headers["retry-after"] == "5"
            for slow in held:  # the held ones time out...
                assert (await slow.answer())[0] == 408
            assert (await one()).status_code == 201  # ...and uploads are taken again


async def test_connections_past_the_bound_are_refused_and_slow_headers_time_out(
        app: FastAPI) -> None:
    async with server_for(app, server_limit_concurrency=16,
                          server_header_timeout_seconds=1.0) as server:
        held = [await Slow.raw(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Sl")
                for _ in range(16)]
        extra = await Slow.raw(server.port, b"")
        status, _, body = await extra.answer(timeout=5)
        assert status == 503 and body["error"]["code"] == "too_many_connections"
        started = time.monotonic()
        for slow in held:  # each half-sent request is closed after the header timeout
            status, _, body = await slow.answer(timeout=10)
            assert status == 408 and body["error"]["code"] == "header_timeout"
        assert time.monotonic() - started < 5
        async with httpx.AsyncClient(base_url=server.http) as http:
            assert (await http.get("/healthz")).status_code == 200


def test_the_connection_bound_stays_below_the_fd_limit(settings: Settings) -> None:
    assert connection_limit(settings, 20000) == settings.server_limit_concurrency == 4096
    assert connection_limit(settings, 1024) == 1024 - FD_RESERVE


@pytest.mark.timeout(120)
def test_rooms_serve_raises_its_fd_soft_limit_to_the_hard_limit(tmp_path: Path) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 512:
        pytest.skip(f"the hard fd limit is {hard}; nothing to raise")
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_", "REDIS_", "SECRET_", "OPS_", "BLOB_"))}
    env.update({"VAR_DIR": str(tmp_path / "var"), "LOG_LEVEL": "info"})
    log = (tmp_path / "console.log").open("wb")

    def low_soft_limit() -> None:  # as a default 1,024-fd shell would start it
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    proc = subprocess.Popen([sys.executable, "-m", "rooms.cli", "serve", "--port", str(number)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=low_soft_limit)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "console.log").read_text()[-2000:]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{number}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
        assert line.split()[3:5] == [str(hard), str(hard)], line
        assert "serve.limits" in (tmp_path / "console.log").read_text()
    finally:
        stop_process(proc)
        log.close()
