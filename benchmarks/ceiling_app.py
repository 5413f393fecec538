"""The ceiling: the least a Python ASGI server does per upload (PEERS.md).

A bare Starlette app that parses the multipart body, streams `file` to a new file, fsyncs it
and inserts one SQLite row, with no validation at all. Run by benchmarks/ingest.py.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

ROOT = Path(os.environ.get("CEILING_DIR", "/tmp/rooms-ceiling"))
ROOT.mkdir(parents=True, exist_ok=True)
DB = sqlite3.connect(ROOT / "ceiling.db", isolation_level=None, check_same_thread=False)
DB.execute("PRAGMA journal_mode=WAL")
DB.execute("CREATE TABLE IF NOT EXISTS upload (id INTEGER PRIMARY KEY, path TEXT, size INT)")


async def upload(request: Request) -> JSONResponse:
    form = await request.form()
    part = form["file"]
    assert not isinstance(part, str)
    path = ROOT / f"{uuid.uuid4().hex}.wav"
    size = 0
    with path.open("wb") as fh:
        while chunk := await part.read(256 * 1024):
            fh.write(chunk)
            size += len(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    cur = DB.execute("INSERT INTO upload (path, size) VALUES (?, ?)", (str(path), size))
    await form.close()
    return JSONResponse({"id": cur.lastrowid, "size": size}, status_code=201)


app = Starlette(routes=[Route("/api/v1/artifacts/audio", upload, methods=["POST"])])
