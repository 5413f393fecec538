"""Nothing left behind: every way an upload can end closes and deletes its spool, and the
spools a killed process left are swept at start-up and by the periodic job."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from rooms.recordings.tasks import sweep_stale_spools
from rooms.recordings.upload import FLUSH_BYTES
from rooms.resources import open_store
from tests.audio import wav16
from tests.helpers import resources
from tests.recordings.conftest import CLIENT, artifact_count, blob_keys
from tests.recordings.test_failures import FAIL_TRIGGER

PATHS = ["/api/v1/artifacts/audio", "/api/v1/ephemeral/audio"]
BOUNDARY = "rooms-test-boundary"
FILE_PART = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
             f"filename=\"take.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
FILE_HEAD = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"consent_mode\"\r\n\r\n"
             f"ROOM\r\n").encode() + FILE_PART
FILE_TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
MULTIPART = {**CLIENT, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def spools(app: FastAPI) -> list[str]:
    return sorted(os.listdir(resources(app).blobs.staging_dir()))


@pytest.mark.parametrize("path", PATHS)
async def test_a_body_cut_short_is_incomplete_and_leaves_nothing(
        client: httpx.AsyncClient, app: FastAPI, path: str) -> None:
    body = FILE_HEAD + wav16(0.5)  # the whole take, but no closing boundary
    warm = await client.post(path, content=body, headers=MULTIPART)  # pools open their sockets
    assert (warm.status_code, warm.json()["error"]["code"]) == (400, "upload_incomplete")
    fds, files = open_fds(), spools(app)
    for _ in range(50):
        resp = await client.post(path, content=body, headers=MULTIPART)
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "upload_incomplete"
    assert (open_fds(), spools(app)) == (fds, files)
    assert files == []
    assert await blob_keys(app) == []
    assert await artifact_count(app) == 0


async def test_the_same_body_with_its_closing_boundary_is_stored(client: httpx.AsyncClient,
                                                                  app: FastAPI) -> None:
    resp = await client.post(PATHS[0], content=FILE_HEAD + wav16(0.5) + FILE_TAIL,
                             headers=MULTIPART)
    assert resp.status_code == 201, resp.text
    assert spools(app) == []


# --- every other way out -----------------------------------------------------------------

async def _asgi_post(app: FastAPI, path: str, chunks: list[bytes], *,
                     then: str = "disconnect") -> tuple[int | None, asyncio.Task[None]]:
    """POST `chunks` straight into the ASGI app, then the client disconnects (`then` =
    "disconnect") or goes silent while the app waits for more (`then` = "hang")."""
    sent: list[dict[str, Any]] = []
    queue = [{"type": "http.request", "body": c, "more_body": True} for c in chunks]
    silent = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if then == "hang":
            silent.set()
            await asyncio.Event().wait()  # never comes: the task is cancelled instead
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
             "server": ("testserver", 80),
             "headers": [(k.lower().encode(), v.encode()) for k, v in
                         {**MULTIPART, "host": "testserver"}.items()]}
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    if then == "hang":
        await asyncio.wait_for(silent.wait(), 10)
        return None, task
    await asyncio.wait_for(task, 10)
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), task


@pytest.mark.parametrize("path", PATHS)
async def test_a_client_that_disconnects_mid_take_leaves_nothing(
        client: httpx.AsyncClient, app: FastAPI, path: str) -> None:
    await _asgi_post(app, path, [FILE_HEAD, wav16(0.5)[:4000]])  # warm the pools
    fds = open_fds()
    for _ in range(10):
        status, _ = await _asgi_post(app, path, [FILE_HEAD, wav16(0.5)[:4000]])
        assert status == 400
    assert (open_fds(), spools(app)) == (fds, [])


async def test_a_cancelled_upload_leaves_nothing(client: httpx.AsyncClient,
                                                 app: FastAPI) -> None:
    """The server is stopping (or the connection task is cancelled) mid-take: `finally`."""
    await _asgi_post(app, PATHS[1], [FILE_HEAD, wav16(0.5)[:4000]])  # warm the pools
    fds = open_fds()
    # more than one flush of the take, so its spool is on disk when the task is cancelled
    _, task = await _asgi_post(app, PATHS[1], [FILE_HEAD, wav16(12.0)[:FLUSH_BYTES + 4000]],
                               then="hang")
    assert len(spools(app)) == 1  # the take is being spooled right now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (open_fds(), spools(app)) == (fds, [])


def _bad_wav() -> bytes:
    return b"RIFF\x00\x00\x00\x00WAVEnot a wave at all" + b"\0" * 500


REFUSALS: dict[str, tuple[Callable[[], bytes], int, str]] = {
    "not a wav": (lambda: FILE_HEAD + _bad_wav() + FILE_TAIL, 400, "invalid_wav"),
    "parser error mid-file": (lambda: FILE_HEAD + wav16(0.5)[:3000] + b"\r\n--" + BOUNDARY.encode()
                              + b"\r\nno-colon-header\r\n\r\n", 400, "invalid_multipart"),
    "two file parts": (lambda: FILE_HEAD + wav16(0.2) + b"\r\n" + FILE_PART + wav16(0.2)
                       + FILE_TAIL,
                       400, "invalid_request"),
}


@pytest.mark.parametrize("kind", sorted(REFUSALS))
async def test_a_refused_take_leaves_nothing(client: httpx.AsyncClient, app: FastAPI,
                                             kind: str) -> None:
    make, status, code = REFUSALS[kind]
    await client.post(PATHS[0], content=make(), headers=MULTIPART)
    fds = open_fds()
    for path in PATHS:
        resp = await client.post(path, content=make(), headers=MULTIPART)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), resp.text
    assert (open_fds(), spools(app)) == (fds, [])
    assert await blob_keys(app) == []


async def test_too_large_mid_stream_leaves_nothing(client: httpx.AsyncClient,
                                                   app: FastAPI) -> None:
    resources(app).settings.ingest_max_upload_bytes = 16 * 1024

    async def chunked() -> Any:  # no Content-Length: found out only while reading
        yield FILE_HEAD
        for _ in range(8):
            yield b"\0" * 4096

    await client.post(PATHS[0], content=chunked(), headers=MULTIPART)  # warm the pools
    fds = open_fds()
    for path in PATHS:
        resp = await client.post(path, content=chunked(), headers=MULTIPART)
        assert (resp.status_code, resp.json()["error"]["code"]) == (413, "too_large")
    assert (open_fds(), spools(app)) == (fds, [])


async def test_a_database_error_leaves_no_spool(client: httpx.AsyncClient,
                                                app: FastAPI) -> None:
    async with resources(app).engine.begin() as conn:
        for statement in FAIL_TRIGGER[conn.dialect.name]:
            await conn.execute(text(statement))
    for path in PATHS:
        resp = await client.post(path, content=FILE_HEAD + wav16(0.5) + FILE_TAIL,
                                 headers=MULTIPART)
        assert resp.status_code == 503, resp.text
    assert spools(app) == []
    assert await blob_keys(app) == []


# --- what a killed process left ------------------------------------------------------------

def _leave_spool(folder: Path, name: str, age_s: float) -> Path:
    path = folder / name
    path.write_bytes(b"RIFF half a take")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


async def test_the_periodic_sweep_removes_spools_past_the_grace(app: FastAPI) -> None:
    res = resources(app)
    folder = res.blobs.staging_dir()
    old = _leave_spool(folder, "upload-killed.wav", age_s=20 * 60)
    young = _leave_spool(folder, "upload-in-flight.wav", age_s=60)
    ctx = res.job_context()
    assert await sweep_stale_spools(ctx) == 1
    assert not old.exists() and young.exists()
    assert await sweep_stale_spools(ctx, time.time() + 15 * 60) == 1  # its turn comes too
    assert spools(app) == []


async def test_start_up_removes_spools_past_the_grace(app: FastAPI) -> None:
    res = resources(app)
    folder = res.blobs.staging_dir()
    old = _leave_spool(folder, "upload-killed.wav", age_s=20 * 60)
    young = _leave_spool(folder, "upload-in-flight.wav", age_s=60)
    store = await open_store(res.settings)  # what a restarted process does first
    try:
        assert store.staging_dir() == folder
        assert not old.exists() and young.exists()
    finally:
        await store.aclose()


@pytest.mark.parametrize("path", PATHS)
async def test_a_spool_that_cannot_be_written_is_503_and_keeps_nothing(
        client: httpx.AsyncClient, app: FastAPI, path: str) -> None:
    """The disk under the spool fails (full, gone, an I/O error): not the visitor's fault,
    so 503 `storage_unavailable`, never a 400 that blames the take, and nothing kept. Here
    the spool folder is taken away, which fails the same write as a full disk does."""
    staging = resources(app).blobs.staging_dir()
    before = (await artifact_count(app), await blob_keys(app))
    shutil.rmtree(staging)
    try:
        answer = await client.post(path, content=FILE_HEAD + wav16(0.5) + FILE_TAIL,
                                   headers=MULTIPART)
    finally:
        staging.mkdir(parents=True, exist_ok=True)
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "storage_unavailable"
    assert (await artifact_count(app), await blob_keys(app)) == before
    again = await client.post(path, content=FILE_HEAD + wav16(0.5) + FILE_TAIL,
                              headers=MULTIPART)
    assert again.status_code == 201  # and the next take is stored as usual


async def test_the_event_loop_never_reads_the_spool(client: httpx.AsyncClient, app: FastAPI,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The WAV check (and, with the file store, the blob's install) runs in the worker thread
    # of the spool's last write: every other client waits on no disk read of this one.
    from rooms.recordings import service

    threads: list[int] = []
    real = service.inspect_wav

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "inspect_wav", watched)
    for path in PATHS:
        resp = await client.post(path, content=FILE_HEAD + wav16(0.5) + FILE_TAIL,
                                 headers=MULTIPART)
        assert resp.status_code == 201, resp.text
    assert len(threads) == 2 and threading.get_ident() not in threads


async def test_no_take_row_or_session_outlives_its_request(client: httpx.AsyncClient,
                                                          app: FastAPI) -> None:
    # Months on one box: whatever an upload or a pool/next builds in memory (ORM rows, the
    # session, the unit of work) must be gone once it is answered (README "Reliability").
    from sqlalchemy.ext.asyncio import AsyncSession

    from rooms.models import Artifact, ConsentManifest
    from rooms.uow import UnitOfWork

    kinds = (Artifact, ConsentManifest, AsyncSession, UnitOfWork)

    def alive() -> dict[str, int]:
        gc.collect()
        objects = gc.get_objects()
        return {kind.__name__: sum(isinstance(o, kind) for o in objects) for kind in kinds}

    before = alive()
    for round_ in range(3):
        answers = await asyncio.gather(*(
            client.post(PATHS[0], content=FILE_HEAD + wav16(0.2) + FILE_TAIL,
                        headers={**MULTIPART, "X-Rooms-Client-Id": f"kiosk-{round_}-{i}"})
            for i in range(8)))
        assert [a.status_code for a in answers] == [201] * 8
        assert (await client.get("/api/v1/pool/next", headers=CLIENT)).status_code in (200, 204)
    assert alive() == before
